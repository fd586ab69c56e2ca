"""One alarm in full, as the alarm page shows it: resident card, band status, contacts with every
notification sent to each, and the event timeline. Reads only; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from alarm_center.alarms import repository, timeline_text
from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.alarms.moves import alarm_class, resolve_outcomes
from alarm_center.alarms.views import AlarmView, alarm_views, names_by_id
from alarm_center.notify.model import Notification
from alarm_center.notify.repository import RESPONSE_EVENT
from alarm_center.reports.labels import Lang
from alarm_center.voice.views import CallView, alarm_calls
from registry.band_signal import BandLocation, LastSignal, band_location, last_signal
from registry.contact_view import ContactView
from registry.contacts import list_contacts
from registry.model import Band, Contact, Resident, StaffUser
from registry.safe_zone import SafeZone, safe_zone_of

# The residents' time zone: a resident's age turns over on their local birthday.
LOCAL = ZoneInfo("Europe/Warsaw")


class ResidentCard(BaseModel):
    id: int
    first_name: str
    last_name: str
    age: int | None
    address: str
    phone: str | None
    # How to get in (who has a key, the entry phone); the key-safe code itself: GET .../key-safe.
    access_notes: str
    language: str
    has_medical_notes: bool
    has_key_safe_code: bool
    # Drawn around home on the alarm's map (a left_zone alarm shows how far the band is from it).
    safe_zone: SafeZone | None = None


class BandStatusView(BaseModel):
    serial: str
    model: str
    battery_pct: int | None
    charging: bool | None
    worn: bool | None
    online: bool | None
    online_changed_at: datetime | None
    last_seen_at: datetime | None
    last_heartbeat_at: datetime | None
    # The band's newest accepted message, any kind (heartbeat, SOS, location...): "Ostatni sygnał".
    last_signal: LastSignal | None = None
    signal: int | None
    # Drawn on the page's map (tiles as configured; without them the marker and coordinates).
    last_location: BandLocation | None


class NotificationView(BaseModel):
    id: int
    channel: str
    status: str
    template: str
    to_phone: str
    attempts: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    # Twilio's own status (queued, sent, delivered, undelivered, failed; for calls ringing,
    # in-progress, completed, busy, no-answer, failed), the furthest reached, and when.
    provider_status: str | None = None
    provider_status_at: datetime | None = None
    # Test mode (no Twilio): nothing was sent, whatever `status` says.
    test_mode: bool = False


class AlarmContactView(ContactView):
    # Every SMS and call sent to this contact for this alarm, oldest first.
    notifications: list[NotificationView]
    # The contact's latest answer about this alarm ("going" / "cannot"; None: none yet), when, and
    # how ("sms" / "voice"). A "going" taken back by a later "cannot" is "cannot".
    answer: str | None = None
    answered_at: datetime | None = None
    answer_via: str | None = None


class TimelineEntry(BaseModel):
    id: int
    at: datetime
    type: str
    actor_type: str
    actor_id: int | None
    actor_name: str | None
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]
    # What happened, in words (alarm_center/alarms/timeline_text.py): the one wording of the audit trail.
    text: str


class AlarmDetail(BaseModel):
    alarm: AlarmView
    municipality_id: int | None
    claimed_by_name: str | None
    overdue_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    note: str
    # Outcome codes an operator may choose when resolving this alarm.
    outcomes: list[str]
    resident: ResidentCard | None
    # None: a call from a number no band or resident has (a voice_call alarm with no band).
    band: BandStatusView | None
    contacts: list[AlarmContactView]
    # Notifications to nobody on the contact list (the supervisor, the on-call responder).
    other_notifications: list[NotificationView]
    timeline: list[TimelineEntry]
    # Every telephone call about the alarm (operators' calls out, calls in), oldest first.
    calls: list[CallView] = []


def age_on(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _notification_view(row: Notification) -> NotificationView:
    return NotificationView(
        id=row.id,
        channel=row.channel,
        status=row.status,
        template=row.template,
        to_phone=row.to_phone,
        attempts=row.attempts,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        provider_status=row.provider_status,
        provider_status_at=row.provider_status_at,
        test_mode=row.test_mode,
    )


def _answers(events: Sequence[AlarmEvent]) -> dict[int, dict[str, Any]]:
    """{contact id: answer, answered_at, answer_via} of each contact's latest answer (events oldest first)."""
    latest: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.type == RESPONSE_EVENT and event.actor_type == "contact" and event.actor_id is not None:
            latest[event.actor_id] = {
                "answer": event.detail.get("answer"),
                "answered_at": event.at,
                "answer_via": event.detail.get("via"),
            }
    return latest


def _resident_card(resident: Resident, today: date) -> ResidentCard:
    return ResidentCard(
        id=resident.id,
        first_name=resident.first_name,
        last_name=resident.last_name,
        age=age_on(resident.birth_date, today),
        address=resident.address,
        phone=resident.phone,
        access_notes=resident.access_notes,
        language=resident.language,
        has_medical_notes=bool(resident.medical_notes.strip()),
        has_key_safe_code=resident.key_safe_code_encrypted is not None,
        safe_zone=safe_zone_of(resident),
    )


def _band_status(band: Band) -> BandStatusView:
    return BandStatusView(
        serial=band.serial,
        model=band.model,
        battery_pct=band.battery_pct,
        charging=band.charging,
        worn=band.worn,
        online=band.online,
        online_changed_at=band.online_changed_at,
        last_seen_at=band.last_seen_at,
        last_heartbeat_at=band.last_checkin_at,
        last_signal=last_signal(band),
        signal=band.signal,
        last_location=band_location(band.last_location),
    )


async def _names(
    session: AsyncSession, ids: set[int], key: InstrumentedAttribute[int], name: InstrumentedAttribute[str]
) -> dict[int, str]:
    """{id: name} of those ids; no query for none."""
    return await names_by_id(session, select(key, name).where(key.in_(ids))) if ids else {}


async def _notifications_of(session: AsyncSession, alarm_id: int) -> Sequence[Notification]:
    query = select(Notification).where(Notification.alarm_id == alarm_id).order_by(Notification.id)
    return (await session.execute(query)).scalars().all()


def _actors(events: Sequence[AlarmEvent], actor_type: str) -> set[int]:
    return {e.actor_id for e in events if e.actor_type == actor_type and e.actor_id is not None}


def _contacts_named(events: Sequence[AlarmEvent]) -> set[int]:
    """Contacts an event names in its detail (a relative called, a relative going)."""
    return {e.detail["contact_id"] for e in events if isinstance(e.detail.get("contact_id"), int)}


def _call_names(events: Sequence[AlarmEvent]) -> dict[int, str]:
    """Whom each call was with, from the event that placed it: every later step names them too."""
    return {
        e.detail["call_id"]: str(e.detail["target_name"])
        for e in events
        if e.type == "call" and isinstance(e.detail.get("call_id"), int) and e.detail.get("target_name")
    }


def _timeline_entry(
    event: AlarmEvent,
    staff_names: dict[int, str],
    contact_names: dict[int, str],
    lang: Lang,
    call_names: dict[int, str],
) -> TimelineEntry:
    named = event.actor_id is not None and event.actor_type in ("staff", "contact")
    names = staff_names if event.actor_type == "staff" else contact_names
    actor_name = names.get(event.actor_id) if named and event.actor_id is not None else None
    words = timeline_text.Event(
        type=event.type,
        detail=event.detail,
        actor_type=event.actor_type,
        actor_name=actor_name,
        contact_names=contact_names,
        call_names=call_names,
    )
    return TimelineEntry(
        id=event.id,
        at=event.at,
        type=event.type,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        actor_name=actor_name,
        from_status=event.from_status,
        to_status=event.to_status,
        detail=event.detail,
        text=timeline_text.describe(words, lang),
    )


async def alarm_detail(session: AsyncSession, alarm: Alarm, *, now: datetime, lang: Lang = Lang.PL) -> AlarmDetail:
    """The alarm page's view of `alarm` (no medical notes: those are read, audited, on their own)."""
    [view] = await alarm_views(session, [alarm])
    band = await session.get(Band, alarm.band_id) if alarm.band_id is not None else None
    resident = await session.get(Resident, alarm.resident_id) if alarm.resident_id is not None else None
    contacts = await list_contacts(session, resident_id=resident.id) if resident is not None else []
    notifications = await _notifications_of(session, alarm.id)
    events = await repository.events_of(session, alarm.id)
    claimer = {alarm.claimed_by} if alarm.claimed_by is not None else set()
    staff_names = await _names(session, _actors(events, "staff") | claimer, StaffUser.id, StaffUser.full_name)
    others_named = (_actors(events, "contact") | _contacts_named(events)) - {c.id for c in contacts}
    contact_names = {c.id: c.name for c in contacts} | await _names(session, others_named, Contact.id, Contact.name)
    answers = _answers(events)
    call_names = _call_names(events)
    by_contact: dict[int, list[NotificationView]] = {}
    others: list[NotificationView] = []
    for row in notifications:
        if row.contact_id is not None and row.contact_id in contact_names:
            by_contact.setdefault(row.contact_id, []).append(_notification_view(row))
        else:
            others.append(_notification_view(row))
    return AlarmDetail(
        alarm=view,
        municipality_id=alarm.municipality_id,
        claimed_by_name=staff_names.get(alarm.claimed_by) if alarm.claimed_by is not None else None,
        overdue_at=alarm.overdue_at,
        closed_at=alarm.closed_at,
        outcome=alarm.outcome,
        note=alarm.note,
        outcomes=sorted(resolve_outcomes(alarm_class(alarm.kind), is_test=alarm.is_test)),
        resident=_resident_card(resident, now.astimezone(LOCAL).date()) if resident is not None else None,
        band=_band_status(band) if band is not None else None,
        contacts=[
            AlarmContactView(
                **ContactView.of(c).model_dump(), notifications=by_contact.get(c.id, []), **answers.get(c.id, {})
            )
            for c in contacts
        ],
        other_notifications=others,
        timeline=[_timeline_entry(e, staff_names, contact_names, lang, call_names) for e in events],
        calls=await alarm_calls(session, alarm.id),
    )
