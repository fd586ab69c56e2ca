"""A band's alarm taken in as the gateway takes it (its band message, then intake), for tests that
need an alarm without a broker."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.model import AlarmKind
from alarm_center.escalation.policy import PolicyBook
from registry.model import Band
from registry.traffic.messages import BandMessage
from tests.support.seed import SeededBand


async def take_in(
    session: AsyncSession,
    *,
    band_id: int,
    municipality_id: int | None,
    kind: AlarmKind,
    at: datetime,
    policies: PolicyBook | None = None,
) -> int:
    """The alarm's id (a new one, or the open one the press merged into). Does not commit."""
    band = await session.get(Band, band_id)
    assert band is not None, f"no band {band_id}"
    message = BandMessage(band_id=band.id, message_id=uuid.uuid4().hex, kind=kind.value, received_at=at, payload={})
    session.add(message)
    await session.flush()
    result = await raise_or_merge(
        session,
        band=band,
        resident_municipality_id=municipality_id,
        kind=kind,
        band_message_id=message.id,
        received_at=at,
        policies=policies,
    )
    return result.alarm_id


async def press(
    sessions: async_sessionmaker[AsyncSession],
    seeded: SeededBand,
    kind: AlarmKind,
    *,
    at: datetime,
    policies: PolicyBook | None = None,
) -> int:
    """`take_in` for the seeded resident's band, in its own committed transaction."""
    async with sessions() as session, session.begin():
        return await take_in(
            session, band_id=seeded.band_id, municipality_id=seeded.municipality_id, kind=kind, at=at, policies=policies
        )
