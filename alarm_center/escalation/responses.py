"""A relative's answer moves the escalation, in the transaction that records the answer.

"going" (SMS TAK, key 1): nobody else is reached, the console shows "relative going", and an
arrival-confirmation timer starts, since a relative on the way is not the resident safe.
"cannot" (NIE, key 2): the next contact is reached at once rather than after the step's wait.
A call nobody answered (no answer, busy, failed) does the same: waiting out the step for someone
who did not pick up only delays the next person.

Never fenced: the row is locked waiting for any worker holding it and moved whatever its version,
so a "TAK" that comes after the step moved on still counts (invariant 3). An answer about a closed
alarm is only recorded (by the caller).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.lifecycle import Actor, Move, MoveRefused, apply_move
from alarm_center.alarms.model import AlarmStatus
from alarm_center.escalation import repository
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import CONTACTS

log = logging.getLogger(__name__)

GOING, CANNOT = "going", "cannot"
DEFAULT_ARRIVAL_CONFIRM_S = 1200
RELATIVE_GOING = "relative_going"
ARRIVAL_NOT_CONFIRMED = "arrival_not_confirmed"


async def on_contact_response(
    session: AsyncSession, *, alarm_id: int, contact_id: int | None, answer: str, at: datetime
) -> None:
    """React to an answer already recorded as a contact_response event. Does not commit."""
    if answer not in (GOING, CANNOT):
        return
    row = await repository.lock_for_answer(session, alarm_id=alarm_id)
    if row is None:
        return
    alarm = await repository.alarm_facts(session, alarm_id)
    if alarm is None or alarm.status not in (AlarmStatus.RAISED, AlarmStatus.CLAIMED):
        return
    if answer == GOING:
        cancelled = await repository.cancel_alerts(session, alarm_id=alarm_id, at=at, reason="a relative is going")
        detail: dict[str, Any] = {
            "reason": RELATIVE_GOING,
            "channel": "console",
            "targets": ["operators"],
            "sound": False,
            "contact_id": contact_id,
            "cancelled_notifications": cancelled,
        }
        if row.state not in (repository.ARRIVAL, repository.ARRIVAL_END):
            # The first "going" starts the timer; a second relative going does not push it back.
            due = at + timedelta(seconds=int(row.policy.get("arrival_confirm_s", DEFAULT_ARRIVAL_CONFIRM_S)))
            state = repository.ARRIVAL_END if row.state == "done" else repository.ARRIVAL
            await repository.move(session, escalation_id=row.id, values={"state": state, "next_due_at": due})
            detail["arrival_confirm_by"] = due.isoformat()
        try:
            await apply_move(session, at=at, alarm_id=alarm_id, move=Move.ESCALATE, actor=Actor.system(), detail=detail)
        except MoveRefused:
            # Closed by an operator a moment ago: the answer is recorded, the close ends the rest.
            log.info("alarm %d closed while a relative's 'going' came in; no console alert", alarm_id)
        return
    # "cannot"
    if row.state == repository.ARRIVAL and await _going_contact(session, alarm_id) == contact_id:
        # The relative who was going cannot after all: reach the next one now.
        await repository.move(session, escalation_id=row.id, values={"state": "active", "next_due_at": at})
        return
    await _hurry_next_contact(session, row, resident_id=alarm.resident_id, contact_id=contact_id, at=at)


async def on_call_unanswered(session: AsyncSession, *, alarm_id: int, contact_id: int | None, at: datetime) -> None:
    """An alert call to a contact ended unanswered (no answer, busy, failed): the next contact is
    reached now. Does not commit."""
    if contact_id is None:
        return
    row = await repository.lock_for_answer(session, alarm_id=alarm_id)
    if row is None:
        return
    alarm = await repository.alarm_facts(session, alarm_id)
    if alarm is None or alarm.status != AlarmStatus.RAISED:
        return  # claimed: an operator is on it, and the escalation waits for them
    log.info("alarm %d: contact %d did not answer the call; the next is reached now", alarm_id, contact_id)
    await _hurry_next_contact(session, row, resident_id=alarm.resident_id, contact_id=contact_id, at=at)


async def _hurry_next_contact(
    session: AsyncSession, row: Escalation, *, resident_id: int, contact_id: int | None, at: datetime
) -> None:
    """If the row is reaching contacts one by one and `contact_id` is the one reached last, the
    next one is due now."""
    steps: list[dict[str, Any]] = row.policy["steps"]
    reaching_contacts = (
        row.state == "active"
        and row.step < len(steps)
        and row.attempt > 0
        and CONTACTS in steps[row.step]["targets"]
        and steps[row.step]["channel"] != "console"
    )
    if not reaching_contacts or (row.next_due_at is not None and row.next_due_at <= at):
        return
    # Only the contact reached last hurries the next one: a late "cannot" from an earlier contact
    # must not cut short the wait for the one being called now.
    contacts = await repository.contacts_in_order(session, resident_id)
    if row.attempt <= len(contacts) and contacts[row.attempt - 1].id == contact_id:
        await repository.move(session, escalation_id=row.id, values={"next_due_at": at})


async def _going_contact(session: AsyncSession, alarm_id: int) -> int | None:
    """The contact whose latest "going" stands (the answer being handled is already recorded)."""
    answers = await repository.responses(session, alarm_id=alarm_id)
    going = [contact for _, contact, answer in answers[:-1] if answer == GOING]
    return going[-1] if going else None


async def going_contact(session: AsyncSession, alarm_id: int) -> int | None:
    """The contact who last said "going" about the alarm, if any."""
    answers = await repository.responses(session, alarm_id=alarm_id)
    going = [contact for _, contact, answer in answers if answer == GOING]
    return going[-1] if going else None
