"""Escalation queries. The worker's job boundary owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmStatus
from alarm_center.escalation.model import Escalation
from alarm_center.notify.model import Notification, NotificationStatus
from alarm_center.notify.repository import ALERT_TEMPLATES, RESPONSE_EVENT
from registry.model import Contact, Municipality, Resident

CLOSED = (AlarmStatus.RESOLVED.value, AlarmStatus.CANCELLED.value)
# Waiting for a relative who said "going" to be confirmed there: "arrival" resumes afterwards if the
# policy says so, "arrival_end" had nothing left to do (its policy had run out) and ends.
ARRIVAL, ARRIVAL_END = "arrival", "arrival_end"
DUE_STATES = ("active", "paused", ARRIVAL, ARRIVAL_END)
# What an escalation writes to reach a person; "going" cancels those not yet sent, a close too.
# Never cancelled by a close: the all-clear itself, and our answers to relatives' replies.
KEPT_ON_CLOSE = ("all_clear",)
# The alarm event every escalation step, skipped wait and page writes (the lifecycle's ESCALATE move).
ESCALATED = "escalated"


def close_pending() -> Any:
    """Rows whose alarm's close is still to be handled (escalation ended, all-clear queued).

    A "done" row whose policy ran out while its alarm was open keeps its next_due_at set (it is
    never fired: `due` takes no "done" row) until the close is handled, when it is cleared."""
    return or_(Escalation.state != "done", Escalation.next_due_at.is_not(None))


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
                .where(Escalation.state.in_(DUE_STATES), Escalation.next_due_at <= now)
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


async def alarm_facts(session: AsyncSession, alarm_id: int, *, lock: bool = False) -> Any:
    """What escalation needs of the alarm. With `lock`, its row is locked to the end of the
    transaction: an operator's claim then waits for a step that is firing (or the step waits for
    the claim, and sees it), so relatives are never called about an alarm claimed meanwhile."""
    query = (
        select(
            Alarm.status,
            Alarm.kind,
            Alarm.raised_at,
            Alarm.claimed_at,
            Alarm.municipality_id,
            Alarm.resident_id,
            Resident.first_name,
        )
        .outerjoin(Resident, Resident.id == Alarm.resident_id)
        .where(Alarm.id == alarm_id)
    )
    if lock:
        query = query.with_for_update(of=Alarm)
    return (await session.execute(query)).first()


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


async def open_rows_of_closed_alarms(session: AsyncSession, *, limit: int) -> Sequence[Any]:
    closed = exists().where(Alarm.id == Escalation.alarm_id, Alarm.status.in_(CLOSED))
    return (
        await session.execute(select(Escalation.id, Escalation.alarm_id).where(close_pending(), closed).limit(limit))
    ).all()


async def end(session: AsyncSession, *, alarm_ids: Sequence[int], at: datetime) -> int:
    """Escalations of these alarms done, their notifications not yet sent cancelled; how many cancelled.

    A notification already `sending` is in flight and is left to the sender to settle.
    """
    if not alarm_ids:
        return 0
    await session.execute(
        update(Escalation)
        .where(Escalation.alarm_id.in_(alarm_ids), close_pending())
        .values(state="done", next_due_at=None, version=Escalation.version + 1)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        update(Notification)
        .where(
            Notification.alarm_id.in_(alarm_ids),
            Notification.status == NotificationStatus.PENDING.value,
            Notification.template.not_in(KEPT_ON_CLOSE),
            ~Notification.template.like("reply_%"),
        )
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


async def lock_for_answer(session: AsyncSession, *, alarm_id: int) -> Escalation | None:
    """The alarm's escalation row, locked, waiting for a worker that holds it: a person's answer is
    never skipped or fenced away, it is applied after whatever the worker is doing."""
    return (
        await session.execute(
            select(Escalation)
            .where(Escalation.alarm_id == alarm_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def move(session: AsyncSession, *, escalation_id: int, values: dict[str, Any]) -> None:
    """Move a row the caller has locked, bumping its version so jobs read before are fenced off."""
    await session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id)
        .values(**values, version=Escalation.version + 1)
        .execution_options(synchronize_session=False)
    )


async def cancel_alerts(session: AsyncSession, *, alarm_id: int, at: datetime, reason: str) -> int:
    """The alarm's alerts to people not yet sent, cancelled; how many."""
    result = await session.execute(
        update(Notification)
        .where(
            Notification.alarm_id == alarm_id,
            Notification.status == NotificationStatus.PENDING.value,
            Notification.template.in_(ALERT_TEMPLATES),
        )
        .values(status=NotificationStatus.CANCELLED.value, updated_at=at, error=reason)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult on UPDATE


async def responses(session: AsyncSession, *, alarm_id: int) -> list[tuple[int, int | None, str]]:
    """(event id, contact id, answer) of the relatives' answers to the alarm, oldest first."""
    rows = await session.execute(
        select(AlarmEvent.id, AlarmEvent.actor_id, AlarmEvent.detail)
        .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == RESPONSE_EVENT)
        .order_by(AlarmEvent.id)
    )
    return [(row.id, row.actor_id, str((row.detail or {}).get("answer", ""))) for row in rows]


async def waiting(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Escalation]:
    """Active rows waiting for a later time, soonest first (few: the open, unclaimed alarms)."""
    return (
        (
            await session.execute(
                select(Escalation)
                .where(Escalation.state == "active", Escalation.next_due_at > now)
                .order_by(Escalation.next_due_at, Escalation.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def system_escalations(
    session: AsyncSession, *, alarm_id: int, reason: str
) -> list[tuple[datetime, dict[str, Any]]]:
    """(at, detail) of the alarm's escalation events written by the system with this `reason`,
    oldest first. Filtered here, not in SQL: an alarm has a handful, and JSON paths differ by dialect."""
    rows = await session.execute(
        select(AlarmEvent.at, AlarmEvent.detail)
        .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == ESCALATED, AlarmEvent.actor_type == "system")
        .order_by(AlarmEvent.id)
    )
    return [(row.at, dict(row.detail)) for row in rows if (row.detail or {}).get("reason") == reason]


async def alarms_touched_since(
    session: AsyncSession, *, since: datetime, municipality_ids: frozenset[int] | None, limit: int
) -> Sequence[Alarm]:
    """Real (not test) alarms raised since `since` or still open, of these municipalities (None:
    all), newest first: those that can have escalated since then."""
    query = select(Alarm).where(or_(Alarm.raised_at >= since, Alarm.status.not_in(CLOSED)), Alarm.is_test.is_(False))
    if municipality_ids is not None:
        query = query.where(Alarm.municipality_id.in_(municipality_ids))
    return (await session.execute(query.order_by(Alarm.raised_at.desc()).limit(limit))).scalars().all()


async def escalations_and_answers(session: AsyncSession, *, alarm_ids: Sequence[int], since: datetime) -> Sequence[Any]:
    """(alarm_id, at, type, actor_id, detail) of the system's escalation events and the relatives'
    answers to these alarms since `since`, oldest first."""
    if not alarm_ids:
        return []
    return (
        await session.execute(
            select(
                AlarmEvent.alarm_id,
                AlarmEvent.at,
                AlarmEvent.type,
                AlarmEvent.actor_type,
                AlarmEvent.actor_id,
                AlarmEvent.detail,
            )
            .where(
                AlarmEvent.alarm_id.in_(alarm_ids),
                AlarmEvent.at >= since,
                or_(
                    (AlarmEvent.type == ESCALATED) & (AlarmEvent.actor_type == "system"),
                    AlarmEvent.type == RESPONSE_EVENT,
                ),
            )
            .order_by(AlarmEvent.id)
        )
    ).all()


async def contact_names(session: AsyncSession, contact_ids: set[int]) -> dict[int, str]:
    if not contact_ids:
        return {}
    rows = await session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(contact_ids)))
    return {row.id: row.name for row in rows}
