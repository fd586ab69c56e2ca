"""Escalation as seen from the rest of the alarm center: start one when an alarm is raised, end it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.escalation import repository
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import PolicyBook
from alarm_center.notify.queue import queue_all_clear


async def start(
    session: AsyncSession,
    *,
    policies: PolicyBook,
    alarm_id: int,
    kind: str,
    municipality_id: int | None,
    raised_at: datetime,
    is_test: bool = False,
) -> Escalation:
    """The escalation row of a new alarm, its policy snapshotted. Does not commit."""
    code = await repository.municipality_code(session, municipality_id) if policies.municipalities else None
    snapshot = policies.snapshot_for(kind, code, is_test=is_test)
    first = snapshot["steps"][0]["after_s"] if snapshot["steps"] else 0
    row = Escalation(
        alarm_id=alarm_id,
        policy=snapshot,
        step=0,
        attempt=0,
        loop_count=0,
        state="active" if snapshot["steps"] else "done",
        next_due_at=raised_at + timedelta(seconds=first) if snapshot["steps"] else None,
        version=0,
    )
    session.add(row)
    await session.flush()
    return row


async def end_for_alarm(session: AsyncSession, *, alarm_id: int, at: datetime) -> int:
    """End the alarm's escalation, cancel its alerts not yet sent and queue the all-clear to those
    already told, in the caller's transaction (a resolve or cancel may call it; the worker's sweep
    does it otherwise). How many notifications were cancelled."""
    return await close_out(session, alarm_ids=[alarm_id], at=at)


async def close_out(session: AsyncSession, *, alarm_ids: Sequence[int], at: datetime) -> int:
    """For closed alarms: escalations ended, alerts not yet sent cancelled, then the all-clear queued
    in the same transaction (after the cancel, so it is not cancelled with them). Once per number
    however often it is called: `queue_all_clear` skips numbers that already have one."""
    cancelled = await repository.end(session, alarm_ids=alarm_ids, at=at)
    for alarm_id in alarm_ids:
        await queue_all_clear(session, alarm_id=alarm_id, at=at)
    return cancelled
