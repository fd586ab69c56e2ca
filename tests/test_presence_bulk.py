"""The batch presence write (one executemany per shape) leaves every band as the per-band UPDATE did."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway import repository
from gateway.presence import PresenceUpdate
from registry.model import Band
from simulator.provision import provision_fleet

pytestmark = pytest.mark.asyncio

COLUMNS = ("last_seen_at", "battery_pct", "charging", "signal", "worn", "unworn_since", "last_location",
           "last_checkin_at", "online", "online_changed_at")  # fmt: skip


async def _state(sessions: async_sessionmaker[AsyncSession], band_id: int) -> dict[str, Any]:
    async with sessions() as session:
        band = (await session.execute(select(Band).where(Band.id == band_id))).scalar_one()
        return {c: getattr(band, c) for c in COLUMNS}


def _updates(clock: FakeClock) -> list[list[PresenceUpdate]]:
    """Rounds of updates for band i (each round is one batch), covering every shape and order."""
    t0 = clock.now()
    later, earlier = t0 + timedelta(seconds=30), t0 - timedelta(seconds=30)

    def off(at: Any, changed: bool) -> PresenceUpdate:
        u = PresenceUpdate(last_seen_at=at)
        u.worn, u.worn_since, u.worn_changed_in_batch = False, at, changed
        return u

    return [
        [PresenceUpdate(last_seen_at=t0, battery=70, charging=False, signal=80, worn=True, worn_since=t0)],
        [PresenceUpdate(last_seen_at=later), PresenceUpdate(last_seen_at=earlier)],  # never backwards
        [off(t0, changed=True), off(later, changed=False)],  # keeps the moment it came off
        [off(t0, changed=False)],  # off all batch, first seen off: since the batch's moment
        [PresenceUpdate(online=False, online_at=t0), PresenceUpdate(online=True, online_at=later)],
        [PresenceUpdate(online=True, online_at=later)],  # unchanged: keeps online_changed_at
        [PresenceUpdate(location={"lat": 51.1, "lon": 17.0, "accuracy_m": 5, "source": "gps", "at": "x"})],
        [PresenceUpdate(checkin_at=t0, last_seen_at=t0)],
    ]


async def test_bulk_presence_matches_per_band_updates(sessions: async_sessionmaker[AsyncSession]) -> None:
    clock = FakeClock()
    fleet = await provision_fleet(sessions, clock, count=2, prefix="PB")
    async with sessions() as session:
        ids = list((await session.scalars(select(Band.id).order_by(Band.serial))).all())
    single, bulk = ids
    for round_ in _updates(clock):
        for update_ in round_:
            async with sessions() as session, session.begin():
                await repository.record_presence(session, band_id=single, update_=update_)
            async with sessions() as session, session.begin():
                # Another band in the same call, with a different shape: groups must not mix.
                await repository.record_presence_many(
                    session, [(bulk, update_), (single + bulk + 10_000, PresenceUpdate(battery=1))]
                )
            assert await _state(sessions, bulk) == await _state(sessions, single)
    assert len(fleet.credentials) == 2
