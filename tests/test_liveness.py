"""Bands online, as the gateway's gauge counts them: heard within their own offline window."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.settings import BandSettings
from registry.model import Band, BandStatus
from registry.presence import count_bands_online

pytestmark = pytest.mark.asyncio


async def test_each_band_is_judged_by_its_own_interval(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    defaults = BandSettings(heartbeat_interval_s=300, offline_after_missed=3)  # 15 min by default
    now = clock.now()
    # (own interval, seen this long ago, status): online?
    bands = [
        (None, timedelta(minutes=14), BandStatus.ACTIVE),  # online: within 15 min
        (None, timedelta(minutes=16), BandStatus.ACTIVE),  # offline
        (0, timedelta(minutes=10), BandStatus.ACTIVE),  # 0 means the default: online
        (60, timedelta(minutes=2), BandStatus.ACTIVE),  # online: within 3 min
        (60, timedelta(minutes=4), BandStatus.ACTIVE),  # offline
        (3600, timedelta(hours=2), BandStatus.ACTIVE),  # online: within 3 h
        (None, timedelta(minutes=1), BandStatus.RETIRED),  # not counted: not in service
        (None, None, BandStatus.ACTIVE),  # never heard
    ]
    async with sessions() as session, session.begin():
        for interval, ago, status in bands:
            session.add(
                Band(
                    serial=f"L-{uuid.uuid4().hex[:8]}",
                    status=status,
                    heartbeat_interval_s=interval,
                    last_seen_at=now - ago if ago is not None else None,
                    created_at=now,
                )
            )
    async with sessions() as session:
        assert await count_bands_online(session, now=now, bands=defaults) == 4
        assert await count_bands_online(session, now=now + timedelta(minutes=2), bands=defaults) == 2
