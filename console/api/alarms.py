"""The alarm API behind the console: the queue, one alarm in full, and every operator action.

Every action is a lifecycle move (`apply_move`, one table of allowed moves), so each is an audited
alarm_event row in the transaction that makes it. Reading a resident's medical notes or key-safe
code changes no alarm, so it is no move; it is audited all the same, as an event of its own.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.claim import claim_alarm
from alarm_center.alarms.detail import AlarmDetail, alarm_detail
from alarm_center.alarms.installation_alarms import TEST_DETAIL
from alarm_center.alarms.lifecycle import TEST_OUTCOMES, Actor, Move, MoveRefused, MoveResult, Refusal, apply_move
from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmStatus
from alarm_center.alarms.readings import KeySafeCode, MedicalNotes, open_key_safe_code, open_medical_notes
from alarm_center.alarms.views import AlarmView, alarm_views
from alarm_center.reports.labels import Lang
from alarm_center.voice.inbound import waiting_caller
from console.api.scope import not_yours, visible_alarm
from console.auth.current import AlarmHandler, AnyStaff, StaffPrincipal
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from console.key_safe import KeySafeUnavailable, read_key_safe_code
from core.clock import Clock
from registry.model import StaffRole

router = APIRouter(tags=["alarms"])


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
    async with session.begin():
        alarms = [a for a in await repository.open_alarms(session) if user.sees_alarm(a.municipality_id, a.kind)]
        return await alarm_views(session, alarms)


@router.get("/api/alarms/{alarm_id}")
async def get_alarm(
    alarm_id: DbId, user: AnyStaff, session: SessionDep, clock: ClockDep, lang: Lang = Lang.PL
) -> AlarmDetail:
    """One alarm in full: resident card (no medical notes: GET .../medical), band status, the
    contacts in escalation order with every notification sent to each, and the event timeline
    (each entry's `text` in `lang`: pl or en)."""
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        return await alarm_detail(session, alarm, now=clock.now(), lang=lang)


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
        notes = await open_medical_notes(session, alarm=alarm, staff_id=user.id, at=clock.now())
        if notes is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"alarm {alarm_id} has no resident")
    return notes


@router.get(
    "/api/alarms/{alarm_id}/key-safe",
    responses={
        404: {"description": "no key-safe code stored"},
        409: {"description": "the alarm is closed"},
        503: {"description": "no data key configured"},
    },
)
async def key_safe_code(
    alarm_id: DbId, user: AlarmHandler, request: Request, response: Response, session: SessionDep, clock: ClockDep
) -> KeySafeCode:
    """The resident's key-safe code, decrypted, on an open alarm only (409 once it is closed: the
    code opens a door, and a closed alarm needs nobody to go in). Every opening is recorded in the
    alarm's timeline."""
    response.headers.update(NO_STORE)
    data_key = context_of(request).data_key
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        if alarm.status not in OPEN_STATUSES:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"alarm {alarm_id} is closed: the key-safe code is shown on open alarms only",
            )
        try:
            code = await open_key_safe_code(
                session,
                alarm=alarm,
                staff_id=user.id,
                at=clock.now(),
                decrypt=lambda stored: read_key_safe_code(data_key, stored),
            )
        except KeySafeUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
        if code is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no key-safe code for alarm {alarm_id}'s resident")
    return code


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
        claimer = await repository.claimer_name(session, exc.alarm_id)
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


async def alarm_to_close(session: AsyncSession, user: StaffPrincipal, alarm_id: int) -> Alarm:
    """The alarm, if this user may claim and close it: operators, supervisors and administrators any
    alarm of their municipalities; a technician only an installation test's (403 for a real one)."""
    if user.role != StaffRole.TECHNICIAN:
        return await visible_alarm(session, user, alarm_id)
    alarm = await repository.get_alarm(session, alarm_id)
    if alarm is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"alarm {alarm_id} does not exist")
    if not alarm.is_test:
        # Said before the municipality: whatever the municipality, a real alarm is not a technician's.
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"a technician may not do this: alarm {alarm_id} is a real alarm, handled by operators and "
            "supervisors; a technician claims and closes only installation-test alarms (alarmy testowe)",
        )
    if not user.sees_alarm(alarm.municipality_id, alarm.kind):
        raise not_yours(f"alarm {alarm_id}")
    return alarm


def technician_outcome(user: StaffPrincipal, outcome: str | None) -> None:
    """A technician closes a test as a test: 422 for any other outcome."""
    codes = sorted(TEST_OUTCOMES)
    if user.role == StaffRole.TECHNICIAN and outcome is not None and outcome not in codes:
        raise _field_error("outcome", f"a technician closes a test alarm with one of: {', '.join(codes)}")


ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not the user's role or municipality"},
    404: {"description": "no such alarm"},
    409: {"description": "a lost race or a closed alarm: the message says which"},
}


@router.post("/api/alarms/{alarm_id}/claim", responses=ERRORS)
async def claim(alarm_id: DbId, user: AnyStaff, session: SessionDep, clock: ClockDep) -> ActionResult:
    """Take the alarm. Of two operators claiming at once, one wins; the other gets 409 naming who has it.
    A technician may take only an installation test's alarm (403 for a real one)."""
    async with session.begin():
        alarm = await alarm_to_close(session, user, alarm_id)
        try:
            claimed = await claim_alarm(
                session, clock, alarm_id=alarm_id, staff_id=user.id, detail=TEST_DETAIL if alarm.is_test else None
            )
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
    alarm_id: DbId, body: ResolveRequest, user: AnyStaff, session: SessionDep, clock: ClockDep
) -> ActionResult:
    """Close the alarm with an outcome code (and, for a life alarm, a note saying what was done).
    An installation test's alarm also takes installation_test_ok / installation_test_failed (no
    note needed); a technician may close only such an alarm, with such an outcome (403 otherwise)."""
    async with session.begin():
        alarm = await alarm_to_close(session, user, alarm_id)
        technician_outcome(user, body.outcome)
        waiting = await waiting_caller(session, alarm_id=alarm_id)
        if waiting is not None:
            # Closed, the alarm would leave the caller in its queue hearing "proszę czekać" for good.
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"na linii czeka dzwoniący ({waiting}): odbierz albo rozłącz, zanim zamkniesz alarm",
            )
        try:
            moved = await apply_move(
                session,
                at=clock.now(),
                alarm_id=alarm_id,
                move=Move.RESOLVE,
                actor=Actor.staff(user.id),
                outcome=body.outcome,
                note=body.note,
                detail=TEST_DETAIL if alarm.is_test else None,
            )
        except MoveRefused as exc:
            raise await refused(session, exc) from None
    return _result(moved)


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
