"""Notification queries. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmEvent
from alarm_center.notify.model import Channel, Notification, NotificationStatus, PhoneOptOut, WebhookReceipt
from core.db.dialect import insert_for
from registry.model import Contact, Municipality, Resident

# Alarm events a relative's messages write.
OPT_OUT = "contact_opted_out"
OPT_IN = "contact_opted_in"
RESPONSE_EVENT = "contact_response"


async def due(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Notification]:
    """Pending rows whose time has come, oldest first, locked (skipped if another sender has them)."""
    return (
        (
            await session.execute(
                select(Notification)
                .where(
                    Notification.status == NotificationStatus.PENDING,
                    or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
                )
                .order_by(Notification.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )


# Messages that call someone to an alarm (as opposed to replies and all-clears).
ALERT_TEMPLATES = frozenset({"sms_alert", "voice_alert", "escalation_sms", "escalation_voice", "fallback_voice"})


async def closed_alarms(session: AsyncSession, alarm_ids: set[int]) -> set[int]:
    """Those of the alarms that are no longer open."""
    if not alarm_ids:
        return set()
    rows = await session.execute(
        select(Alarm.id).where(Alarm.id.in_(alarm_ids), Alarm.status.not_in([s.value for s in OPEN_STATUSES]))
    )
    return set(rows.scalars())


async def stale_sending(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Notification]:
    """Rows left `sending` past their deadline (a crash, a lost answer), locked like `due`."""
    return (
        (
            await session.execute(
                select(Notification)
                .where(Notification.status == NotificationStatus.SENDING, Notification.deadline < now)
                .order_by(Notification.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )


async def unsettled_sends(session: AsyncSession, *, to_phone: str, channel: str) -> Sequence[Notification]:
    """Sends to this number on this channel still waiting for their outcome (`sending`, no provider
    id yet), in the order their attempts started."""
    return (
        (
            await session.execute(
                select(Notification)
                .where(
                    Notification.to_phone == to_phone,
                    Notification.channel == channel,
                    Notification.status == NotificationStatus.SENDING,
                    Notification.provider_id.is_(None),
                )
                .order_by(Notification.next_attempt_at, Notification.id)
            )
        )
        .scalars()
        .all()
    )


async def known_provider_ids(session: AsyncSession, *, to_phone: str, except_id: int) -> set[str]:
    rows = await session.execute(
        select(Notification.provider_id).where(
            Notification.to_phone == to_phone, Notification.provider_id.is_not(None), Notification.id != except_id
        )
    )
    return {value for value in rows.scalars() if value}


async def mark_sent(
    session: AsyncSession,
    *,
    notification_id: int,
    provider_id: str,
    at: datetime,
    provider_status: str | None = None,
    test_mode: bool = False,
) -> bool:
    """sending → sent with the provider's id (and its first status, or the test-mode mark); False if
    a status callback got there first (the id is then filled in if still missing, the newer status kept)."""
    result = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.SENDING)
        .values(
            status=NotificationStatus.SENT,
            provider_id=provider_id,
            deadline=None,
            error=None,
            updated_at=at,
            test_mode=test_mode,
        )
    )
    if int(result.rowcount):  # type: ignore[attr-defined]  # CursorResult on UPDATE
        if provider_status is not None:
            # Only if no callback told a status first: that one is newer than the create's answer.
            await session.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.provider_status.is_(None))
                .values(provider_status=provider_status[:24], provider_status_at=at)
            )
        return True
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.provider_id.is_(None))
        .values(provider_id=provider_id, updated_at=at)
    )
    return False


async def exists_since(
    session: AsyncSession, *, to_phone: str, templates: Collection[str], since: datetime, alarm_id: int | None = None
) -> bool:
    """Was a notification from one of `templates` written to this number since then (for "once")?"""
    query = select(Notification.id).where(
        Notification.to_phone == to_phone, Notification.template.in_(templates), Notification.created_at >= since
    )
    if alarm_id is not None:
        query = query.where(Notification.alarm_id == alarm_id)
    return (await session.execute(query.limit(1))).first() is not None


async def alarm_is_open(session: AsyncSession, alarm_id: int) -> bool:
    status = (await session.execute(select(Alarm.status).where(Alarm.id == alarm_id))).scalar_one_or_none()
    return status in OPEN_STATUSES


async def contacts_with_phone(session: AsyncSession, phone: str) -> Sequence[Contact]:
    return (await session.execute(select(Contact).where(Contact.phone == phone).order_by(Contact.id))).scalars().all()


async def contact_of_alarm(session: AsyncSession, *, alarm_id: int, phone: str) -> Contact | None:
    """The contact of the alarm's resident with this number, if there is one."""
    return (
        (
            await session.execute(
                select(Contact)
                .join(Alarm, Alarm.resident_id == Contact.resident_id)
                .where(Alarm.id == alarm_id, Contact.phone == phone)
                .order_by(Contact.priority)
                .limit(1)
            )
        )
        .scalars()
        .first()
    )


async def alarms_notified(session: AsyncSession, *, phone: str) -> list[tuple[int, bool]]:
    """(alarm id, open?) of alarms this number was alerted about, newest first."""
    rows = await session.execute(
        select(Notification.alarm_id, Alarm.status, func.max(Notification.id).label("last"))
        .join(Alarm, Alarm.id == Notification.alarm_id)
        .where(Notification.to_phone == phone, ~Notification.template.like("reply_%"))
        .group_by(Notification.alarm_id, Alarm.status)
        .order_by(func.max(Notification.id).desc())
    )
    return [(int(row.alarm_id), row.status in OPEN_STATUSES) for row in rows]


async def latest_alarm_of_contact(session: AsyncSession, contact_id: int) -> int | None:
    return (
        await session.execute(
            select(Alarm.id)
            .join(Contact, Contact.resident_id == Alarm.resident_id)
            .where(Contact.id == contact_id)
            .order_by(Alarm.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def opted_out(session: AsyncSession, phones: Collection[str]) -> set[str]:
    """Those of the numbers that sent STOP and no START since."""
    if not phones:
        return set()
    rows = await session.execute(select(PhoneOptOut.phone).where(PhoneOptOut.phone.in_(set(phones))))
    return set(rows.scalars())


async def opt_out(session: AsyncSession, *, phone: str, at: datetime) -> None:
    """STOP: kept from the first one (a second STOP changes nothing)."""
    statement = insert_for(session, PhoneOptOut).values(phone=phone, stopped_at=at)
    await session.execute(statement.on_conflict_do_nothing(index_elements=[PhoneOptOut.phone]))


async def opt_in(session: AsyncSession, *, phone: str) -> None:
    await session.execute(delete(PhoneOptOut).where(PhoneOptOut.phone == phone))


async def first_receipt(session: AsyncSession, *, provider_sid: str, at: datetime) -> bool:
    """True the first time a provider's message or call sid is acted on; False for a retried or
    replayed webhook. Decided by the primary key, so two copies arriving together act once: the
    second waits for the first's transaction and then finds the sid taken."""
    statement = insert_for(session, WebhookReceipt).values(provider_sid=provider_sid[:64], received_at=at)
    result = await session.execute(statement.on_conflict_do_nothing(index_elements=[WebhookReceipt.provider_sid]))
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult on INSERT


async def alerted(session: AsyncSession, *, alarm_id: int, phone: str) -> bool:
    """Was an alert about the alarm sent to this number (a responder, the one on duty)?"""
    query = select(Notification.id).where(
        Notification.alarm_id == alarm_id,
        Notification.to_phone == phone,
        Notification.template.in_(ALERT_TEMPLATES),
        Notification.status.not_in((NotificationStatus.PENDING, NotificationStatus.CANCELLED)),
    )
    return (await session.execute(query.limit(1))).first() is not None


async def told_about(
    session: AsyncSession, *, alarm_id: int, templates: Collection[str] | None = None
) -> list[tuple[str, int | None]]:
    """(number, contact) pairs told about the alarm: an alert SMS sent or delivered, a call answered.
    With `templates`: the pairs with a (not cancelled) message of those templates instead."""
    query = select(Notification.to_phone, Notification.contact_id).where(Notification.alarm_id == alarm_id)
    if templates is None:
        sms_reached = and_(
            Notification.channel == Channel.SMS,
            Notification.status.in_((NotificationStatus.SENT, NotificationStatus.DELIVERED)),
        )
        call_answered = and_(Notification.channel == Channel.VOICE, Notification.status == NotificationStatus.DELIVERED)
        query = query.where(
            or_(sms_reached, call_answered),
            ~Notification.template.like("reply_%"),
            Notification.template != "all_clear",
        )
    else:
        query = query.where(Notification.template.in_(templates), Notification.status != NotificationStatus.CANCELLED)
    rows = await session.execute(query.distinct().order_by(Notification.to_phone))
    return [(row.to_phone, row.contact_id) for row in rows]


async def answered_contacts(session: AsyncSession, *, alarm_id: int) -> list[tuple[str, int | None]]:
    """(number, contact) of the alarm's contacts who answered "going" or "cannot"."""
    rows = await session.execute(
        select(Contact.phone, Contact.id)
        .join(AlarmEvent, AlarmEvent.actor_id == Contact.id)
        .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == RESPONSE_EVENT, AlarmEvent.actor_type == "contact")
        .distinct()
        .order_by(Contact.phone)
    )
    return [(row.phone, row.id) for row in rows]


async def queued_lately(
    session: AsyncSession, *, alarm_id: int, contact_id: int, channel: str, since: datetime
) -> bool:
    """Was a message on this channel queued to the contact about the alarm since then (and not cancelled)?"""
    query = select(Notification.id).where(
        Notification.alarm_id == alarm_id,
        Notification.contact_id == contact_id,
        Notification.channel == channel,
        Notification.created_at > since,
        Notification.status != NotificationStatus.CANCELLED,
    )
    return (await session.execute(query.limit(1))).first() is not None


async def alarm_with_place(session: AsyncSession, alarm_id: int) -> Any:
    """(alarm, resident's first name, municipality's timezone) of the alarm; None if there is none."""
    return (
        await session.execute(
            select(Alarm, Resident.first_name, Municipality.timezone)
            .outerjoin(Resident, Resident.id == Alarm.resident_id)
            .outerjoin(Municipality, Municipality.id == Alarm.municipality_id)
            .where(Alarm.id == alarm_id)
        )
    ).first()


async def someone_going(session: AsyncSession, *, alarm_id: int) -> bool:
    """Does anyone's latest answer say "going" (a "going" taken back by a "cannot" does not count)?"""
    answers = await session.execute(
        select(AlarmEvent.actor_id, AlarmEvent.detail)
        .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == RESPONSE_EVENT)
        .order_by(AlarmEvent.id)
    )
    latest: dict[tuple[int | None, str], str] = {}
    for actor_id, detail in answers:
        if isinstance(detail, dict):
            latest[(actor_id, str(detail.get("responder_phone", "")))] = str(detail.get("answer"))
    return "going" in latest.values()
