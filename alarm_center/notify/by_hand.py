"""An operator texts or calls one of the resident's relatives by hand, from the alarm.

The notification is an outbox row like an escalation step's (the sender delivers it, with its
retries, fallback and reconciliation), queued in the same transaction as the alarm event that says
who asked for it. Does not commit: the caller's `session.begin()` owns the transaction, and an
exception leaving it rolls the notification back with the refused move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.lifecycle import Actor, Move, apply_move
from alarm_center.alarms.model import Alarm
from alarm_center.notify import repository
from alarm_center.notify.queue import queue_alert
from alarm_center.notify.status_link import StatusLinks
from registry.model import Contact

REPEAT_GUARD = timedelta(seconds=60)


class NotAContact(Exception):
    """The contact is not one of the alarm's resident's."""


class AskedJustNow(Exception):
    """The same message to the same contact was queued moments ago."""


@dataclass(frozen=True)
class QueuedByHand:
    notification_id: int
    event_id: int
    to_phone: str


async def notify_by_hand(
    session: AsyncSession,
    *,
    alarm: Alarm,
    contact_id: int,
    channel: str,
    staff_id: int,
    links: StatusLinks | None,
    at: datetime,
) -> QueuedByHand:
    """Queue an alert SMS or call to one of the resident's contacts, and record who asked for it.

    NotAContact, AskedJustNow, or the lifecycle's MoveRefused when the alarm cannot be escalated."""
    contact = await session.get(Contact, contact_id)
    if contact is None or alarm.resident_id is None or contact.resident_id != alarm.resident_id:
        raise NotAContact(f"contact {contact_id} is not a contact of this alarm's resident")
    if await repository.queued_lately(
        session, alarm_id=alarm.id, contact_id=contact.id, channel=channel, since=at - REPEAT_GUARD
    ):
        # A double click, or two operators at once: the relative is told once.
        raise AskedJustNow(
            f"a {channel} to contact {contact.id} for alarm {alarm.id} was queued in the last {REPEAT_GUARD.seconds} s"
        )
    notification_id = await queue_alert(
        session, alarm_id=alarm.id, channel=channel, to_phone=contact.phone, links=links, at=at, contact_id=contact.id
    )
    # Recorded as an escalation by a person: the alarm's audit trail shows who was told, how and on
    # whose word, and it counts as the operator's progress on the alarm.
    moved = await apply_move(
        session,
        at=at,
        alarm_id=alarm.id,
        move=Move.ESCALATE,
        actor=Actor.staff(staff_id),
        detail={
            "by_hand": True,
            "channel": channel,
            "targets": ["contacts"],
            "contact_id": contact.id,
            "notification_ids": [notification_id],
        },
    )
    return QueuedByHand(notification_id, moved.event_id, contact.phone)
