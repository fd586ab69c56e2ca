"""A band's history: every change of who wears a band, or of its credentials, is a `BandEvent`,
so a band's and a resident's history survive swaps. `record_event` is the one writer of the table.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry.model import BandEvent, BandEventType


async def record_event(
    session: AsyncSession,
    clock: Clock,
    *,
    band_id: int,
    type: BandEventType,
    resident_id: int | None = None,
    other_band_id: int | None = None,
    staff_id: int | None = None,
    note: str = "",
) -> BandEvent:
    event = BandEvent(
        band_id=band_id,
        at=clock.now(),
        type=type.value,
        resident_id=resident_id,
        other_band_id=other_band_id,
        staff_id=staff_id,
        note=note[:300],
    )
    session.add(event)
    await session.flush()
    return event


async def band_history(session: AsyncSession, *, band_id: int) -> list[BandEvent]:
    return list(
        (await session.execute(select(BandEvent).where(BandEvent.band_id == band_id).order_by(BandEvent.id))).scalars()
    )


async def resident_band_history(session: AsyncSession, *, resident_id: int) -> list[BandEvent]:
    """Every band event naming the resident: which bands they wore, when, swaps."""
    return list(
        (
            await session.execute(select(BandEvent).where(BandEvent.resident_id == resident_id).order_by(BandEvent.id))
        ).scalars()
    )
