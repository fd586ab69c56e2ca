"""Gateway queries: bands by serial, band messages inserted at most once, presence updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.dialect import insert_for
from gateway.presence import PresenceUpdate
from registry.model import Band
from registry.traffic.messages import BandMessage


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
    if update_.message_at is not None:
        # Like last_seen_at: an older batch landing late keeps the newer message and its kind.
        newer = or_(Band.last_message_at.is_(None), Band.last_message_at <= update_.message_at)
        values["last_message_at"] = case((newer, update_.message_at), else_=Band.last_message_at)
        values["last_message_kind"] = case((newer, update_.message_kind), else_=Band.last_message_kind)
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


async def record_seen(session: AsyncSession, *, band_id: int, seen_at: datetime, kind: str | None = None) -> None:
    """The band was heard at `seen_at`; with `kind`, an accepted message of that kind (its last signal)."""
    update_ = PresenceUpdate(last_seen_at=seen_at)
    if kind is not None:
        update_.sent(kind, seen_at)
    await record_presence(session, band_id=band_id, update_=update_)


# -- presence for a whole batch: one executemany per shape of update, not one UPDATE per band ----
#
# Measured (docs/performance.md, B1): one UPDATE per band cost about 1.1 ms on PostgreSQL and on
# SQLite, so a batch of 1,700 bands (100,000 bands' heartbeats in one second) took 1.9 s and the
# gateway fell behind for good. The same rows as a few executemany calls of one compiled statement
# each keep the same semantics (never moving last_seen_at back, unworn_since kept while off).


def _presence_shape(update_: PresenceUpdate) -> tuple[str, ...]:
    """Which columns this update sets, and how: updates of one shape share one statement."""
    shape = [
        name
        for name, value in (
            ("seen", update_.last_seen_at),
            ("message", update_.message_at),
            ("battery", update_.battery),
            ("charging", update_.charging),
            ("signal", update_.signal),
            ("location", update_.location),
            ("checkin", update_.checkin_at),
            ("online", update_.online),
        )
        if value is not None
    ]
    if update_.worn is not None:
        if update_.worn:
            shape.append("worn_on")
        elif update_.worn_changed_in_batch:
            shape.append("worn_off_now")
        else:
            shape.append("worn_off_kept")
    return tuple(shape)


def _presence_params(band_id: int, update_: PresenceUpdate) -> dict[str, Any]:
    return {
        "b_id": band_id,
        "b_seen": update_.last_seen_at,
        "b_message_at": update_.message_at,
        "b_message_kind": update_.message_kind,
        "b_battery": update_.battery,
        "b_charging": update_.charging,
        "b_signal": update_.signal,
        "b_location": update_.location,
        "b_checkin": update_.checkin_at,
        "b_online": update_.online,
        "b_online_at": update_.online_at,
        "b_worn_since": update_.worn_since,
    }


def _presence_statement(shape: tuple[str, ...]) -> Any:
    table = cast(Table, Band.__table__)
    c = table.c

    def param(name: str, column: Any) -> Any:
        return bindparam(f"b_{name}", type_=column.type)

    values: dict[str, Any] = {}
    if "seen" in shape:
        seen = param("seen", c.last_seen_at)
        values["last_seen_at"] = case(
            (or_(c.last_seen_at.is_(None), c.last_seen_at < seen), seen), else_=c.last_seen_at
        )
    if "message" in shape:
        message_at = param("message_at", c.last_message_at)
        newer = or_(c.last_message_at.is_(None), c.last_message_at <= message_at)
        values["last_message_at"] = case((newer, message_at), else_=c.last_message_at)
        values["last_message_kind"] = case(
            (newer, param("message_kind", c.last_message_kind)), else_=c.last_message_kind
        )
    for name, column in (
        ("battery", c.battery_pct),
        ("charging", c.charging),
        ("signal", c.signal),
        ("location", c.last_location),
        ("checkin", c.last_checkin_at),
    ):
        if name in shape:
            values[column.name] = param(name, column)
    if "worn_on" in shape:
        values["worn"], values["unworn_since"] = True, None
    elif "worn_off_now" in shape:
        values["worn"], values["unworn_since"] = False, param("worn_since", c.unworn_since)
    elif "worn_off_kept" in shape:
        values["worn"] = False
        values["unworn_since"] = case(
            (and_(c.worn.is_(False), c.unworn_since.is_not(None)), c.unworn_since),
            else_=param("worn_since", c.unworn_since),
        )
    if "online" in shape:
        online = param("online", c.online)
        values["online"] = online
        values["online_changed_at"] = case(
            (c.online == online, c.online_changed_at), else_=param("online_at", c.online_changed_at)
        )
    return update(table).where(c.id == bindparam("b_id")).values(**values)


async def record_presence_many(session: AsyncSession, updates: list[tuple[int, PresenceUpdate]]) -> None:
    """`record_presence` for many bands: one executemany per shape of update (heartbeats: one)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for band_id, update_ in updates:
        shape = _presence_shape(update_)
        if shape:
            groups.setdefault(shape, []).append(_presence_params(band_id, update_))
    for shape, rows in groups.items():
        await session.execute(_presence_statement(shape), rows)
