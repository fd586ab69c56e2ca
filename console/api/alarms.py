"""The alarm API behind the console: the queue, one alarm in full, and every operator action.

Every action is a lifecycle move (`apply_move`, one table of allowed moves), so each is an audited
alarm_event row in the transaction that makes it. Reading a resident's medical notes or key-safe
code changes no alarm, so it is no move; it is audited all the same, as an event of its own.
"""

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.claim import claim_alarm
from alarm_center.alarms.lifecycle import (
    RESOLVE_OUTCOMES,
    Actor,
    Move,
    MoveRefused,
    MoveResult,
    Refusal,
    alarm_class,
    apply_move,
)
from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmStatus
from alarm_center.alarms.views import AlarmView, alarm_views
from alarm_center.notify.model import Notification
from console.api.scope import visible_alarm
from console.auth.current import AlarmHandler, AnyStaff, StaffPrincipal
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from console.key_safe import KeySafeUnavailable, read_key_safe_code
from core.clock import Clock
from registry.model import Band, Contact, Resident, StaffUser

router = APIRouter(tags=["alarms"])
LOCAL = ZoneInfo("Europe/Warsaw")

MEDICAL_OPENED = "medical_notes_opened"
KEY_SAFE_OPENED = "key_safe_code_opened"


# ---- views ----------------------------------------------------------------------------------------


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


class Location(BaseModel):
    lat: float
    lon: float
    accuracy_m: float | None = None
    source: str | None = None
    at: str | None = None
    # A link only: nothing is fetched from the map (the console works offline).
    map_url: str


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
    signal: int | None
    last_location: Location | None


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


class ContactView(BaseModel):
    id: int
    name: str
    relation: str
    phone: str
    priority: int
    language: str
    has_key: bool
    # Every SMS and call sent to this contact for this alarm, oldest first.
    notifications: list[NotificationView]


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
    band: BandStatusView
    contacts: list[ContactView]
    # Notifications to nobody on the contact list (the supervisor, the on-call responder).
    other_notifications: list[NotificationView]
    timeline: list[TimelineEntry]


class ActionResult(BaseModel):
    alarm_id: int
    status: str
    event_id: int
    outcome: str | None = None


# ---- reading ---------------------------------------------------------------------------------------


@router.get("/api/alarms")
async def list_open_alarms(user: AnyStaff, session: SessionDep) -> list[AlarmView]:
    """The user's open alarms (their municipalities), most urgent first, then oldest first; each
    names who claimed it."""
    alarms = [alarm for alarm in await repository.open_alarms(session) if user.sees(alarm.municipality_id)]
    return await alarm_views(session, alarms)


def age_on(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def map_url(lat: float, lon: float) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}"


def _location(raw: dict[str, Any] | None) -> Location | None:
    if not raw:
        return None
    try:
        lat, lon = float(raw["lat"]), float(raw["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    accuracy = raw.get("accuracy_m")
    return Location(
        lat=lat,
        lon=lon,
        accuracy_m=float(accuracy) if isinstance(accuracy, int | float) else None,
        source=str(raw["source"]) if raw.get("source") is not None else None,
        at=str(raw["at"]) if raw.get("at") is not None else None,
        map_url=map_url(lat, lon),
    )


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
    )


async def _staff_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids)))
    return dict(rows.all())


async def _contact_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(ids)))
    return dict(rows.all())


@router.get("/api/alarms/{alarm_id}")
async def get_alarm(alarm_id: DbId, user: AnyStaff, session: SessionDep, clock: ClockDep) -> AlarmDetail:
    """One alarm in full: resident card (no medical notes: GET .../medical), band status, the
    contacts in escalation order with every notification sent to each, and the event timeline."""
    alarm = await visible_alarm(session, user, alarm_id)
    [view] = await alarm_views(session, [alarm])
    band = await session.get(Band, alarm.band_id)
    assert band is not None  # a foreign key
    resident = await session.get(Resident, alarm.resident_id) if alarm.resident_id is not None else None
    contacts = (
        (
            await session.execute(
                select(Contact).where(Contact.resident_id == resident.id).order_by(Contact.priority, Contact.id)
            )
        )
        .scalars()
        .all()
        if resident is not None
        else []
    )
    notifications = (
        (await session.execute(select(Notification).where(Notification.alarm_id == alarm.id).order_by(Notification.id)))
        .scalars()
        .all()
    )
    events = (
        (await session.execute(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm.id).order_by(AlarmEvent.id)))
        .scalars()
        .all()
    )
    staff_names = await _staff_names(
        session,
        {e.actor_id for e in events if e.actor_type == "staff" and e.actor_id is not None}
        | ({alarm.claimed_by} if alarm.claimed_by is not None else set()),
    )
    contact_names = {c.id: c.name for c in contacts} | await _contact_names(
        session,
        {e.actor_id for e in events if e.actor_type == "contact" and e.actor_id is not None} - {c.id for c in contacts},
    )
    by_contact: dict[int, list[NotificationView]] = {}
    others: list[NotificationView] = []
    for row in notifications:
        if row.contact_id is not None and row.contact_id in contact_names:
            by_contact.setdefault(row.contact_id, []).append(_notification_view(row))
        else:
            others.append(_notification_view(row))
    today = clock.now().astimezone(LOCAL).date()
    return AlarmDetail(
        alarm=view,
        municipality_id=alarm.municipality_id,
        claimed_by_name=staff_names.get(alarm.claimed_by) if alarm.claimed_by is not None else None,
        overdue_at=alarm.overdue_at,
        closed_at=alarm.closed_at,
        outcome=alarm.outcome,
        note=alarm.note,
        outcomes=sorted(RESOLVE_OUTCOMES[alarm_class(alarm.kind)]),
        resident=ResidentCard(
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
        )
        if resident is not None
        else None,
        band=BandStatusView(
            serial=band.serial,
            model=band.model,
            battery_pct=band.battery_pct,
            charging=band.charging,
            worn=band.worn,
            online=band.online,
            online_changed_at=band.online_changed_at,
            last_seen_at=band.last_seen_at,
            last_heartbeat_at=band.last_checkin_at,
            signal=band.signal,
            last_location=_location(band.last_location),
        ),
        contacts=[
            ContactView(
                id=c.id,
                name=c.name,
                relation=c.relation,
                phone=c.phone,
                priority=c.priority,
                language=c.language,
                has_key=c.has_key,
                notifications=by_contact.get(c.id, []),
            )
            for c in contacts
        ],
        other_notifications=others,
        timeline=[
            TimelineEntry(
                id=e.id,
                at=e.at,
                type=e.type,
                actor_type=e.actor_type,
                actor_id=e.actor_id,
                actor_name=(staff_names if e.actor_type == "staff" else contact_names).get(e.actor_id)
                if e.actor_id is not None and e.actor_type in ("staff", "contact")
                else None,
                from_status=e.from_status,
                to_status=e.to_status,
                detail=e.detail,
            )
            for e in events
        ],
    )


async def _audit_reading(session: AsyncSession, clock: Clock, *, alarm: Alarm, user: StaffPrincipal, what: str) -> int:
    # Written directly, not as a lifecycle move: a reading changes nothing, and must be audited on
    # a closed alarm too, where the lifecycle refuses every move.
    event = await repository.add_event(
        session,
        alarm_id=alarm.id,
        at=clock.now(),
        type=what,
        actor_type="staff",
        actor_id=user.id,
        from_status=alarm.status,
        to_status=alarm.status,
        detail={"resident_id": alarm.resident_id},
    )
    return event.id


class MedicalNotes(BaseModel):
    resident_id: int
    medical_notes: str
    # The audit event this reading wrote.
    event_id: int


NO_STORE = {"Cache-Control": "no-store"}


@router.get("/api/alarms/{alarm_id}/medical")
async def medical_notes(
    alarm_id: DbId, user: AlarmHandler, response: Response, session: SessionDep, clock: ClockDep
) -> MedicalNotes:
    """The resident's medical notes. Every opening is recorded in the alarm's timeline (who, when)."""
    # Kept out of the browser's cache: a later user of the machine must open (and be audited) again.
    response.headers.update(NO_STORE)
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        resident = await session.get(Resident, alarm.resident_id) if alarm.resident_id is not None else None
        if resident is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"alarm {alarm_id} has no resident")
        event_id = await _audit_reading(session, clock, alarm=alarm, user=user, what=MEDICAL_OPENED)
        notes = resident.medical_notes
    return MedicalNotes(resident_id=resident.id, medical_notes=notes, event_id=event_id)


class KeySafeCode(BaseModel):
    resident_id: int
    code: str
    event_id: int


@router.get(
    "/api/alarms/{alarm_id}/key-safe",
    responses={404: {"description": "no key-safe code stored"}, 503: {"description": "no data key configured"}},
)
async def key_safe_code(
    alarm_id: DbId, user: AlarmHandler, request: Request, response: Response, session: SessionDep, clock: ClockDep
) -> KeySafeCode:
    """The resident's key-safe code, decrypted. Every opening is recorded in the alarm's timeline."""
    response.headers.update(NO_STORE)
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        resident = await session.get(Resident, alarm.resident_id) if alarm.resident_id is not None else None
        if resident is None or resident.key_safe_code_encrypted is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no key-safe code for alarm {alarm_id}'s resident")
        try:
            code = read_key_safe_code(context_of(request).data_key, resident.key_safe_code_encrypted)
        except KeySafeUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
        event_id = await _audit_reading(session, clock, alarm=alarm, user=user, what=KEY_SAFE_OPENED)
    return KeySafeCode(resident_id=resident.id, code=code, event_id=event_id)


# ---- actions ---------------------------------------------------------------------------------------


def _field_error(field: str, message: str) -> HTTPException:
    # The shape FastAPI gives its own validation errors, so a client reads both alike.
    detail: list[dict[str, Any]] = [{"loc": ["body", field], "msg": message, "type": "value_error"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


async def refused(session: AsyncSession, exc: MoveRefused) -> HTTPException:
    """A lifecycle refusal as HTTP: 404, 422 naming the field, or 409 (a lost race, a closed alarm)."""
    if exc.reason == Refusal.NOT_FOUND:
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))
    if exc.reason == Refusal.INVALID:
        return _field_error(exc.field or "body", str(exc))
    if exc.status == AlarmStatus.CLAIMED:
        # "claimed by staff 7" means nothing to an operator: name the colleague who has it.
        claimer = (
            await session.execute(
                select(StaffUser.full_name)
                .join(Alarm, Alarm.claimed_by == StaffUser.id)
                .where(Alarm.id == exc.alarm_id)
            )
        ).scalar_one_or_none()
        if claimer is not None:
            verb = "claimed" if exc.move == Move.CLAIM else exc.move.value
            return HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"alarm {exc.alarm_id} is already claimed by {claimer}; it cannot be {verb} again"
                if exc.move == Move.CLAIM
                else f"alarm {exc.alarm_id} is claimed by {claimer}; it cannot be {verb}",
            )
    return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))


def _result(moved: MoveResult) -> ActionResult:
    return ActionResult(
        alarm_id=moved.alarm_id,
        status=moved.to_status,
        event_id=moved.event_id,
        outcome=moved.outcome.value if moved.outcome else None,
    )


async def _move(
    session: AsyncSession,
    clock: Clock,
    user: StaffPrincipal,
    alarm_id: int,
    move: Move,
    *,
    outcome: str | None = None,
    note: str = "",
    detail: dict[str, Any] | None = None,
) -> ActionResult:
    async with session.begin():
        await visible_alarm(session, user, alarm_id)
        try:
            moved = await apply_move(
                session,
                at=clock.now(),
                alarm_id=alarm_id,
                move=move,
                actor=Actor.staff(user.id),
                outcome=outcome,
                note=note,
                detail=detail,
            )
        except MoveRefused as exc:
            raise await refused(session, exc) from None
    return _result(moved)


ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not the user's role or municipality"},
    404: {"description": "no such alarm"},
    409: {"description": "a lost race or a closed alarm: the message says which"},
}


@router.post("/api/alarms/{alarm_id}/claim", responses=ERRORS)
async def claim(alarm_id: DbId, user: AlarmHandler, session: SessionDep, clock: ClockDep) -> ActionResult:
    """Take the alarm. Of two operators claiming at once, one wins; the other gets 409 naming who has it."""
    async with session.begin():
        await visible_alarm(session, user, alarm_id)
        try:
            claimed = await claim_alarm(session, clock, alarm_id=alarm_id, staff_id=user.id)
        except MoveRefused as exc:
            raise await refused(session, exc) from None
    return ActionResult(alarm_id=alarm_id, status=AlarmStatus.CLAIMED, event_id=claimed.event_id)


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=2000)] = ""


@router.post("/api/alarms/{alarm_id}/release", responses=ERRORS)
async def release(
    alarm_id: DbId, user: AlarmHandler, session: SessionDep, clock: ClockDep, body: ReleaseRequest | None = None
) -> ActionResult:
    """Give the alarm back to the queue."""
    return await _move(session, clock, user, alarm_id, Move.RELEASE, note=body.note if body else "")


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post("/api/alarms/{alarm_id}/notes", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def add_note(
    alarm_id: DbId, body: NoteRequest, user: AlarmHandler, session: SessionDep, clock: ClockDep
) -> ActionResult:
    """Add a note to the alarm's timeline."""
    return await _move(session, clock, user, alarm_id, Move.NOTE, note=body.note)


class EscalateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=2000)] = ""


@router.post("/api/alarms/{alarm_id}/escalate", responses=ERRORS)
async def escalate_to_supervisor(
    alarm_id: DbId, user: AlarmHandler, session: SessionDep, clock: ClockDep, body: EscalateRequest | None = None
) -> ActionResult:
    """Hand the alarm up to the supervisor (recorded; the supervisor's overview shows it)."""
    return await _move(
        session,
        clock,
        user,
        alarm_id,
        Move.ESCALATE,
        note=body.note if body else "",
        detail={"by_hand": True, "targets": ["supervisor"]},
    )


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Required; validated against the alarm's class (the 422 lists the valid codes).
    outcome: Annotated[str | None, Field(max_length=64)] = None
    note: Annotated[str, Field(max_length=2000)] = ""


@router.post("/api/alarms/{alarm_id}/resolve", responses=ERRORS)
async def resolve(
    alarm_id: DbId, body: ResolveRequest, user: AlarmHandler, session: SessionDep, clock: ClockDep
) -> ActionResult:
    """Close the alarm with an outcome code (and, for a life alarm, a note saying what was done)."""
    return await _move(session, clock, user, alarm_id, Move.RESOLVE, outcome=body.outcome, note=body.note)


CallOutcome = Literal["answered", "no_answer", "busy", "wrong_number", "voicemail"]


class ResidentCallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: CallOutcome
    note: Annotated[str, Field(max_length=2000)] = ""


@router.post("/api/alarms/{alarm_id}/resident-calls", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def record_resident_call(
    alarm_id: DbId, body: ResidentCallRequest, user: AlarmHandler, session: SessionDep, clock: ClockDep
) -> ActionResult:
    """Record a call the operator made to the resident by hand (outcome and note), in the timeline."""
    note = body.note.strip() or f"call to the resident: {body.outcome}"
    return await _move(
        session,
        clock,
        user,
        alarm_id,
        Move.NOTE,
        note=note,
        detail={"action": "resident_call", "call_outcome": body.outcome, "by_hand": True},
    )
