"""Gateway queries: bands by serial, and band messages inserted at most once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.model import BandMessage
from opaska.db.dialect import insert_for
from registry.model import Band


async def band_by_serial(session: AsyncSession, serial: str) -> Band | None:
    return (await session.execute(select(Band).where(Band.serial == serial))).scalar_one_or_none()


async def insert_band_message_once(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert a band message; None when (band, message id) is already stored (a redelivery)."""
    statement = (
        insert_for(session, BandMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["band_id", "message_id"])
        .returning(BandMessage.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def band_message_id(session: AsyncSession, *, band_id: int, message_id: str) -> int | None:
    return (
        await session.execute(
            select(BandMessage.id).where(BandMessage.band_id == band_id, BandMessage.message_id == message_id)
        )
    ).scalar_one_or_none()


async def record_presence(
    session: AsyncSession,
    *,
    band_id: int,
    seen_at: datetime,
    battery: int | None,
    charging: bool | None,
    worn: bool | None,
    signal: int | None,
) -> None:
    values: dict[str, Any] = {"last_seen_at": seen_at}
    for column, value in (("battery_pct", battery), ("charging", charging), ("worn", worn), ("signal", signal)):
        if value is not None:
            values[column] = value
    # Never move last_seen_at backwards when batches land out of order.
    await session.execute(
        update(Band)
        .where(Band.id == band_id, (Band.last_seen_at.is_(None)) | (Band.last_seen_at <= seen_at))
        .values(**values)
    )
