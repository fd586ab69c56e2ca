"""Escalation queries. The worker's job boundary owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmStatus
from alarm_center.escalation.model import Escalation
from alarm_center.notify.model import Notification, NotificationStatus
from registry.model import Contact, Municipality, Resident

CLOSED = (AlarmStatus.RESOLVED.value, AlarmStatus.CANCELLED.value)


async def municipality_code(session: AsyncSession, municipality_id: int | None) -> str | None:
    if municipality_id is None:
        return None
    return (
        await session.execute(select(Municipality.code).where(Municipality.id == municipality_id))
    ).scalar_one_or_none()


async def due(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Escalation]:
    """Due rows, oldest first, read without a lock: each is locked again when fired."""
    return (
        (
            await session.execute(
                select(Escalation)
                .where(Escalation.state.in_(("active", "paused")), Escalation.next_due_at <= now)
                .order_by(Escalation.next_due_at, Escalation.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def lock_if_current(session: AsyncSession, *, escalation_id: int, version: int) -> Escalation | None:
    """The row, locked, if it is still at `version`; None if it moved on or another worker has it.

    SKIP LOCKED on PostgreSQL: a second worker passes over the row instead of waiting and then
    acting on a job that is stale by then. SQLite renders no FOR UPDATE; its one writer at a time
    (BEGIN IMMEDIATE) does the same.
    """
    return (
        await session.execute(
            select(Escalation)
            .where(Escalation.id == escalation_id, Escalation.version == version)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def advance(session: AsyncSession, *, escalation_id: int, version: int, values: dict[str, Any]) -> bool:
    """Move the row on, fenced: only if nobody moved it since `version` was read."""
    result = await session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.version == version)
        .values(**values, version=version + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]  # CursorResult on UPDATE


async def alarm_facts(session: AsyncSession, alarm_id: int) -> Any:
    return (
        await session.execute(
            select(
                Alarm.status,
                Alarm.kind,
                Alarm.raised_at,
                Alarm.claimed_at,
                Alarm.resident_id,
                Resident.first_name,
            )
            .outerjoin(Resident, Resident.id == Alarm.resident_id)
            .where(Alarm.id == alarm_id)
        )
    ).first()


async def contacts_in_order(session: AsyncSession, resident_id: int | None) -> Sequence[Any]:
    if resident_id is None:
        return []
    return (
        await session.execute(
            select(Contact.id, Contact.phone, Contact.language)
            .where(Contact.resident_id == resident_id)
            .order_by(Contact.priority, Contact.id)
        )
    ).all()


async def mark_overdue(session: AsyncSession, *, alarm_id: int, at: datetime) -> None:
    await session.execute(update(Alarm).where(Alarm.id == alarm_id, Alarm.overdue_at.is_(None)).values(overdue_at=at))


async def last_staff_action(session: AsyncSession, *, alarm_id: int) -> datetime | None:
    """When a person last did anything on the alarm (claim, note, ...): "progress"."""
    return (
        await session.execute(
            select(func.max(AlarmEvent.at)).where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.actor_type == "staff")
        )
    ).scalar_one_or_none()


async def add_notification(session: AsyncSession, **values: Any) -> int:
    notification = Notification(status=NotificationStatus.PENDING.value, attempts=0, **values)
    session.add(notification)
    await session.flush()
    return notification.id


async def open_rows_of_closed_alarms(session: AsyncSession, *, limit: int) -> Sequence[Any]:
    closed = exists().where(Alarm.id == Escalation.alarm_id, Alarm.status.in_(CLOSED))
    return (
        await session.execute(
            select(Escalation.id, Escalation.alarm_id).where(Escalation.state != "done", closed).limit(limit)
        )
    ).all()


async def end(session: AsyncSession, *, alarm_ids: Sequence[int], at: datetime) -> int:
    """Escalations of these alarms done, their notifications not yet sent cancelled; how many cancelled.

    A notification already `sending` is in flight and is left to the sender to settle.
    """
    if not alarm_ids:
        return 0
    await session.execute(
        update(Escalation)
        .where(Escalation.alarm_id.in_(alarm_ids), Escalation.state != "done")
        .values(state="done", next_due_at=None, version=Escalation.version + 1)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        update(Notification)
        .where(Notification.alarm_id.in_(alarm_ids), Notification.status == NotificationStatus.PENDING.value)
        .values(status=NotificationStatus.CANCELLED.value, updated_at=at, error="alarm closed")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult on UPDATE


async def resume_released(session: AsyncSession, *, now: datetime) -> int:
    """Paused escalations whose alarm is back in the queue (released by its operator) run again."""
    raised = exists().where(Alarm.id == Escalation.alarm_id, Alarm.status == AlarmStatus.RAISED.value)
    result = await session.execute(
        update(Escalation)
        .where(Escalation.state == "paused", raised)
        .values(state="active", next_due_at=now, version=Escalation.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult on UPDATE
