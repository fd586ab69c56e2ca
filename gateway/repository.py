"""Gateway queries: bands by serial, band messages inserted at most once, presence updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.model import BandMessage
from gateway.presence import PresenceUpdate
from opaska.db.dialect import insert_for
from registry.model import Band


async def band_by_serial(session: AsyncSession, serial: str) -> Band | None:
    return (await session.execute(select(Band).where(Band.serial == serial))).scalar_one_or_none()


async def band_ids_by_serial(session: AsyncSession, serials: list[str]) -> dict[str, int]:
    rows = await session.execute(select(Band.serial, Band.id).where(Band.serial.in_(serials)))
    return {serial: band_id for serial, band_id in rows}


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


def _presence_values(update_: PresenceUpdate) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if update_.last_seen_at is not None:
        # Never move last_seen_at backwards when batches land out of order.
        values["last_seen_at"] = case(
            (or_(Band.last_seen_at.is_(None), Band.last_seen_at < update_.last_seen_at), update_.last_seen_at),
            else_=Band.last_seen_at,
        )
    for column, value in (
        ("battery_pct", update_.battery),
        ("charging", update_.charging),
        ("signal", update_.signal),
        ("last_location", update_.location),
        ("last_checkin_at", update_.checkin_at),
    ):
        if value is not None:
            values[column] = value
    if update_.worn is not None:
        values["worn"] = update_.worn
        if update_.worn:
            values["unworn_since"] = None
        elif update_.worn_changed_in_batch:
            values["unworn_since"] = update_.worn_since
        else:
            # Off all batch long: keep the moment it came off, if an earlier batch saw it.
            values["unworn_since"] = case(
                (and_(Band.worn.is_(False), Band.unworn_since.is_not(None)), Band.unworn_since),
                else_=update_.worn_since,
            )
    if update_.online is not None:
        values["online"] = update_.online
        values["online_changed_at"] = case(
            (Band.online == update_.online, Band.online_changed_at), else_=update_.online_at
        )
    return values


async def record_presence(session: AsyncSession, *, band_id: int, update_: PresenceUpdate) -> None:
    values = _presence_values(update_)
    if values:
        await session.execute(update(Band).where(Band.id == band_id).values(**values))


async def record_seen(session: AsyncSession, *, band_id: int, seen_at: datetime) -> None:
    await record_presence(session, band_id=band_id, update_=PresenceUpdate(last_seen_at=seen_at))
