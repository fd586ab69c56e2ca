"""Alarm queries. Services call these; the caller's unit of work owns the transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmEvent
from core.db.dialect import insert_for

_OPEN_WHERE = text("status IN ('raised', 'claimed')")


async def insert_alarm_if_none_open(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert an alarm unless one is open for the same band, kind and test-ness; None if one is.

    The partial unique index decides, so two gateways racing on the same band cannot both win.
    """
    statement = (
        insert_for(session, Alarm)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["band_id", "kind", "is_test"], index_where=_OPEN_WHERE)
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
    event = AlarmEvent(
        alarm_id=alarm_id,
        at=at,
        type=type,
        actor_type=actor_type,
        actor_id=actor_id,
        from_status=from_status,
        to_status=to_status,
        detail=detail or {},
    )
    session.add(event)
    await session.flush()
    return event


async def open_alarms(session: AsyncSession) -> Sequence[Alarm]:
    return (
        (
            await session.execute(
                select(Alarm).where(Alarm.status.in_(OPEN_STATUSES)).order_by(Alarm.priority, Alarm.raised_at)
            )
        )
        .scalars()
        .all()
    )


async def latest_event_id(session: AsyncSession) -> int:
    return (await session.execute(select(func.coalesce(func.max(AlarmEvent.id), 0)))).scalar_one()


async def insert_alarms_if_none_open(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Insert many alarms in one statement, skipping each one that has an open twin; {band_id: alarm_id}
    of those inserted. The partial unique index decides, as in `insert_alarm_if_none_open`."""
    if not rows:
        return {}
    statement = (
        insert_for(session, Alarm)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["band_id", "kind", "is_test"], index_where=_OPEN_WHERE)
        .returning(Alarm.band_id, Alarm.id)
    )
    return {band_id: alarm_id for band_id, alarm_id in await session.execute(statement)}


async def add_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many alarm events at once (keys as in `add_event`)."""
    if rows:
        await session.execute(insert(AlarmEvent), list(rows))


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
