"""Supervision queries: each selects, in SQL, only the bands or alarms a rule must act on.

Every query is one statement over the band table (and the open alarms), so a pass over 10,000
bands costs a few index and table scans, never a row per band loaded into Python. Time arithmetic
that differs per band (a band's own heartbeat interval) is done in SQL, in each dialect's terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Float,
    SQLColumnExpression,
    and_,
    case,
    exists,
    extract,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import Alarm, AlarmKind
from alarm_center.alarms.technical import TECHNICAL_KINDS
from core.db.base import UtcDateTime
from core.db.service_state import ServiceState
from registry.model import Band, BandStatus, Resident

GATEWAY_PREFIX = "gateway/"

# Literal, not bound: PostgreSQL uses the partial unique index only when it can prove its
# predicate, and a parameterised IN list in a generic plan proves nothing.
_ALARM_OPEN = text("alarm.status IN ('raised', 'claimed')")


@dataclass(frozen=True)
class BandCandidate:
    """A band a rule wants to raise an alarm for, with what the alarm and its audit need."""

    band_id: int
    resident_id: int
    municipality_id: int
    last_seen_at: datetime | None
    battery_pct: int | None
    charging: bool | None
    unworn_since: datetime | None
    interval_s: int


@dataclass(frozen=True)
class OpenTechnical:
    """An open technical alarm a rule wants to clear, with the band state that clears it."""

    alarm_id: int
    band_id: int
    kind: str
    status: str
    last_seen_at: datetime | None
    battery_pct: int | None
    charging: bool | None
    unworn_since: datetime | None
    band_status: str
    band_resident_id: int | None
    alarm_resident_id: int | None


def _seconds_since(
    session: AsyncSession, column: SQLColumnExpression[datetime | None], now: datetime
) -> ColumnElement[float]:
    """Seconds from `column` to `now`, computed by the database."""
    now_value = literal(now, UtcDateTime())
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(extract("epoch", now_value - column), Float())
    # SQLite keeps UTC timestamps as text; julianday reads them (to the millisecond, enough here).
    return (func.julianday(now_value) - func.julianday(column)) * 86400.0


def _interval_s(default_s: int) -> ColumnElement[int]:
    """The band's own heartbeat interval, or the default when it has none (or a nonsensical one)."""
    return case((Band.heartbeat_interval_s > 0, Band.heartbeat_interval_s), else_=default_s)


def _in_service() -> ColumnElement[bool]:
    return and_(Band.status == BandStatus.ACTIVE.value, Band.resident_id.is_not(None))


def _no_open_alarm(kind: AlarmKind) -> ColumnElement[bool]:
    return ~exists().where(
        Alarm.band_id == Band.id,
        Alarm.kind == kind.value,
        Alarm.is_test == false(),
        _ALARM_OPEN,
    )


async def _select_bands(
    session: AsyncSession, *, interval_s: ColumnElement[int], where: Sequence[ColumnElement[bool]], limit: int
) -> list[BandCandidate]:
    rows = await session.execute(
        select(
            Band.id,
            Resident.id,
            Resident.municipality_id,
            Band.last_seen_at,
            Band.battery_pct,
            Band.charging,
            Band.unworn_since,
            interval_s,
        )
        .join(Resident, Resident.id == Band.resident_id)
        .where(_in_service(), *where)
        .order_by(Band.id)
        .limit(limit)
    )
    return [BandCandidate(*row) for row in rows]


async def gateway_connected_since(session: AsyncSession, *, now: datetime, alive_within: timedelta) -> datetime | None:
    """When the latest connection of a live, connected gateway began; None if no gateway is.

    None means we cannot tell a silent band from our own outage.
    """
    return (
        await session.execute(
            select(func.max(ServiceState.connected_since)).where(
                ServiceState.name.startswith(GATEWAY_PREFIX, autoescape=True),
                ServiceState.connected_since.is_not(None),
                ServiceState.alive_at >= now - alive_within,
            )
        )
    ).scalar_one_or_none()


async def offline_candidates(
    session: AsyncSession,
    *,
    now: datetime,
    missed: int,
    default_interval_s: int,
    gateway_since: datetime,
    limit: int,
) -> list[BandCandidate]:
    """Bands silent for `missed` intervals since max(last_seen_at, gateway_since), with no open alarm.

    A band never seen (last_seen_at NULL) is not offline: it was never online.
    """
    interval_s = _interval_s(default_interval_s)
    window_s = interval_s * missed
    gateway_elapsed_s = (now - gateway_since).total_seconds()
    return await _select_bands(
        session,
        interval_s=interval_s,
        where=(
            Band.last_seen_at.is_not(None),
            _seconds_since(session, Band.last_seen_at, now) >= window_s,
            # The gateway's connection must be older than the window too: after a reconnect every
            # band gets a full window to be heard from again.
            window_s <= gateway_elapsed_s,
            _no_open_alarm(AlarmKind.BAND_OFFLINE),
        ),
        limit=limit,
    )


async def battery_low_candidates(
    session: AsyncSession, *, low_pct: int, default_interval_s: int, limit: int
) -> list[BandCandidate]:
    """Bands below `low_pct` and not charging, with no open battery alarm."""
    return await _select_bands(
        session,
        interval_s=_interval_s(default_interval_s),
        where=(
            Band.battery_pct < low_pct,
            or_(Band.charging.is_(None), Band.charging == false()),
            _no_open_alarm(AlarmKind.BATTERY_LOW),
        ),
        limit=limit,
    )


async def not_worn_candidates(
    session: AsyncSession, *, unworn_before: datetime, default_interval_s: int, limit: int
) -> list[BandCandidate]:
    """Bands whose strap has been off since before `unworn_before`, with no open not-worn alarm."""
    return await _select_bands(
        session,
        interval_s=_interval_s(default_interval_s),
        where=(
            Band.unworn_since.is_not(None),
            Band.unworn_since <= unworn_before,
            _no_open_alarm(AlarmKind.NOT_WORN),
        ),
        limit=limit,
    )


async def _select_open(
    session: AsyncSession, *, kinds: Sequence[AlarmKind], where: Sequence[ColumnElement[bool]], limit: int
) -> list[OpenTechnical]:
    rows = await session.execute(
        select(
            Alarm.id,
            # The inner join to Band: never None here (only a voice call's alarm may have no band).
            Band.id,
            Alarm.kind,
            Alarm.status,
            Band.last_seen_at,
            Band.battery_pct,
            Band.charging,
            Band.unworn_since,
            Band.status,
            Band.resident_id,
            Alarm.resident_id,
        )
        .join(Band, Band.id == Alarm.band_id)
        .where(_ALARM_OPEN, Alarm.is_test == false(), Alarm.kind.in_([kind.value for kind in kinds]), *where)
        .order_by(Alarm.id)
        .limit(limit)
    )
    return [OpenTechnical(*row) for row in rows]


async def offline_seen_again(session: AsyncSession, *, limit: int) -> list[OpenTechnical]:
    """Open offline alarms whose band sent anything after the alarm was raised."""
    return await _select_open(
        session,
        kinds=[AlarmKind.BAND_OFFLINE],
        where=(Band.last_seen_at > Alarm.raised_at,),
        limit=limit,
    )


async def battery_recovered(session: AsyncSession, *, ok_pct: int, limit: int) -> list[OpenTechnical]:
    """Open battery alarms whose band is charging or back at `ok_pct` or more."""
    return await _select_open(
        session,
        kinds=[AlarmKind.BATTERY_LOW],
        where=(or_(Band.battery_pct >= ok_pct, Band.charging == true()),),
        limit=limit,
    )


async def worn_again(session: AsyncSession, *, limit: int) -> list[OpenTechnical]:
    """Open not-worn alarms whose band was put on since (now worn, or taken off anew after the alarm)."""
    return await _select_open(
        session,
        kinds=[AlarmKind.NOT_WORN],
        where=(or_(Band.unworn_since.is_(None), Band.unworn_since > Alarm.raised_at),),
        limit=limit,
    )


async def out_of_service(session: AsyncSession, *, limit: int) -> list[OpenTechnical]:
    """Open technical alarms of bands retired, put back to stock, unbound or given to someone else."""
    return await _select_open(
        session,
        kinds=sorted(TECHNICAL_KINDS),
        where=(
            or_(
                Band.status != BandStatus.ACTIVE.value,
                Band.resident_id.is_(None),
                Alarm.resident_id.is_(None),
                Band.resident_id != Alarm.resident_id,
            ),
        ),
        limit=limit,
    )
