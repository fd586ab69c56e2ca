"""Alarm queries. Services call these; the caller's unit of work owns the transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmEvent, AlarmKind
from core.db.dialect import insert_for
from registry.model import StaffUser

OPEN_WHERE = text("status IN ('raised', 'claimed')")

# (band, kind, is_test): what one open alarm stands for (the partial unique index's columns).
AlarmKey = tuple[int, str, bool]


async def insert_alarm_if_none_open(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert an alarm unless one is open for the same band, kind and test-ness; None if one is.

    The partial unique index decides, so two gateways racing on the same band cannot both win.
    """
    statement = (
        insert_for(session, Alarm)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["band_id", "kind", "is_test"], index_where=OPEN_WHERE)
        .returning(Alarm.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def open_alarm_for(session: AsyncSession, *, band_id: int, kind: str, is_test: bool) -> Alarm | None:
    return (
        await session.execute(
            select(Alarm).where(
                Alarm.band_id == band_id,
                Alarm.kind == kind,
                Alarm.is_test == is_test,
                Alarm.status.in_(OPEN_STATUSES),
            )
        )
    ).scalar_one_or_none()


async def count_repeat(session: AsyncSession, *, alarm_id: int, at: datetime) -> None:
    await session.execute(
        update(Alarm).where(Alarm.id == alarm_id).values(repeat_count=Alarm.repeat_count + 1, last_repeat_at=at)
    )


async def add_event(
    session: AsyncSession,
    *,
    alarm_id: int,
    at: datetime,
    type: str,
    actor_type: str,
    actor_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AlarmEvent:
    """Append one alarm event, through the one writer (`add_events`)."""
    [event] = await add_events(
        session,
        [
            {
                "alarm_id": alarm_id,
                "at": at,
                "type": type,
                "actor_type": actor_type,
                "actor_id": actor_id,
                "from_status": from_status,
                "to_status": to_status,
                "detail": detail or {},
            }
        ],
    )
    return event


async def open_alarms(session: AsyncSession) -> Sequence[Alarm]:
    """Every open alarm a person may handle: the platform canary's are the engine's alone."""
    query = (
        select(Alarm)
        .where(Alarm.status.in_(OPEN_STATUSES), Alarm.kind != AlarmKind.CANARY.value)
        .order_by(Alarm.priority, Alarm.raised_at)
    )
    return (await session.execute(query)).scalars().all()


async def get_alarm(session: AsyncSession, alarm_id: int) -> Alarm | None:
    return await session.get(Alarm, alarm_id)


async def events_of(session: AsyncSession, alarm_id: int) -> Sequence[AlarmEvent]:
    """The alarm's timeline, oldest first."""
    query = select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
    return (await session.execute(query)).scalars().all()


async def escalated_to_supervisor_by_staff(session: AsyncSession, alarm_ids: Collection[int]) -> set[int]:
    """Those of the alarms an operator escalated by hand to the supervisor."""
    if not alarm_ids:
        return set()
    rows = await session.execute(
        select(AlarmEvent.alarm_id, AlarmEvent.detail).where(
            AlarmEvent.alarm_id.in_(alarm_ids), AlarmEvent.type == "escalated", AlarmEvent.actor_type == "staff"
        )
    )
    return {alarm_id for alarm_id, detail in rows if "supervisor" in (detail or {}).get("targets", [])}


async def claimer_name(session: AsyncSession, alarm_id: int) -> str | None:
    """The full name of the operator who has the alarm, if anyone has it."""
    return (
        await session.execute(
            select(StaffUser.full_name).join(Alarm, Alarm.claimed_by == StaffUser.id).where(Alarm.id == alarm_id)
        )
    ).scalar_one_or_none()


async def latest_event_id(session: AsyncSession) -> int:
    return (await session.execute(select(func.coalesce(func.max(AlarmEvent.id), 0)))).scalar_one()


async def insert_alarms_if_none_open(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[AlarmKey, int]:
    """Insert many alarms in one statement, skipping each one that has an open twin; the ids of those
    inserted by (band, kind, is_test). The partial unique index decides, as in `insert_alarm_if_none_open`."""
    if not rows:
        return {}
    # Core table and executemany: compiled once and cached, where a multi-row .values() is not.
    table = cast(Table, Alarm.__table__)
    statement = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["band_id", "kind", "is_test"], index_where=OPEN_WHERE)
        .returning(table.c.id, table.c.band_id, table.c.kind, table.c.is_test)
    )
    result = await session.execute(statement, list(rows))
    return {(band_id, kind, is_test): alarm_id for alarm_id, band_id, kind, is_test in result}


async def open_alarm_ids(session: AsyncSession, keys: Sequence[AlarmKey]) -> dict[AlarmKey, int]:
    """The open alarm of each (band, kind, is_test) that has one, in one query."""
    wanted = set(keys)
    rows = await session.execute(
        select(Alarm.id, Alarm.band_id, Alarm.kind, Alarm.is_test).where(
            Alarm.band_id.in_({band_id for band_id, _, _ in wanted}), Alarm.status.in_(OPEN_STATUSES)
        )
    )
    return {
        (band_id, kind, is_test): alarm_id
        for alarm_id, band_id, kind, is_test in rows
        if band_id is not None and (band_id, kind, is_test) in wanted
    }


async def add_events(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[AlarmEvent]:
    """Append alarm events (keys as in `add_event`), flushed so each has its id.

    The one writer of alarm_event: the timeline and the live feed read every event alike, whoever
    recorded it, only while all of them are stored the same way.
    """
    events = [AlarmEvent(**row) for row in rows]
    if events:
        session.add_all(events)
        await session.flush()
    return events


async def move_alarm_if_status(
    session: AsyncSession, *, alarm_id: int, from_status: str, values: dict[str, Any]
) -> bool:
    """Set `values` on the alarm if it is still in `from_status`; whether it was.

    The compare-and-set that makes a lifecycle move safe against a concurrent one: of two
    operators claiming at once, the second finds the status changed and moves nothing.
    """
    moved = await session.execute(
        update(Alarm)
        .where(Alarm.id == alarm_id, Alarm.status == from_status)
        .values(**values)
        .returning(Alarm.id)
        .execution_options(synchronize_session="fetch")
    )
    return moved.scalar_one_or_none() is not None


async def move_alarms_if_status(
    session: AsyncSession,
    *,
    alarm_ids: Collection[int],
    from_status: str,
    kinds: Collection[str],
    values: dict[str, Any],
) -> list[int]:
    """Set `values` on those of the alarms still in `from_status` and of one of `kinds`; the ids moved.

    The status in the WHERE clause fences the move: an alarm an operator claimed or closed
    meanwhile, or one a second supervisor got to first, is left alone, not moved twice.
    """
    if not alarm_ids or not kinds:
        return []
    result = await session.execute(
        update(Alarm)
        .where(Alarm.id.in_(alarm_ids), Alarm.status == from_status, Alarm.kind.in_(kinds))
        .values(**values)
        .returning(Alarm.id)
        .execution_options(synchronize_session="fetch")
    )
    return list(result.scalars())
