"""The operator's telephone from the alarm page: whom they can call, placing a call (their own
phone rings first, then the far end joins the alarm's conference), adding a third person, hanging
up; and the operator's own phone (PUT /api/me/phone) that Twilio rings.

Errors an operator can act on, in Polish: 422 naming the field (no number for the target, no phone
on the operator's account), 409 naming the colleague already on a call to that number, 503 when
the telephone is unavailable, with the number to dial by hand (`number`).
"""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from alarm_center.voice.calls import CallDesk, CallRefused
from alarm_center.voice.model import CallTarget, VoiceCall
from alarm_center.voice.operator_phone import MAX_LENGTH, BadOperatorPhone, set_operator_phone
from alarm_center.voice.targets import CallTargetView, call_targets
from alarm_center.voice.views import CallView, call_view
from console.api.scope import visible_alarm
from console.auth.current import AlarmHandler, AnyStaff
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from core.clock import Clock
from registry.model import StaffUser

router = APIRouter(tags=["calls"])

OUTBOUND_TARGETS = (CallTarget.BAND, CallTarget.RESIDENT, CallTarget.CONTACT, CallTarget.RESPONDER)


def call_desk(request: Request, clock: Clock) -> CallDesk:
    context = context_of(request)
    public_url = context.twilio_hooks.public_url if context.twilio_hooks is not None else ""
    return CallDesk(context.session_factory, context.telephone, context.voice, public_url, clock)


class CallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: CallTarget
    # The contact's id, or the duty shift's (responder; none: whoever is on duty now). For the band
    # and the resident: none, or the alarm's own band's / resident's id.
    target_id: DbId | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not the user's role or municipality"},
    404: {"description": "no such alarm or call"},
    409: {"description": "a call to this number is live (says who has it), or the alarm is closed"},
    422: {"description": "no number for the target, or no phone on the operator's account"},
    503: {"description": "the telephone is unavailable: `number` is the one to dial by hand"},
}


def _refusal(exc: CallRefused, holder: CallView | None = None) -> JSONResponse:
    if exc.status == 422:
        field = exc.field or "target"
        body: dict[str, Any] = {"detail": [{"loc": ["body", field], "msg": str(exc), "type": "value_error"}]}
    else:
        body = {"detail": str(exc)}
    if exc.number is not None:
        body["number"] = exc.number
    if holder is not None:
        body["call"] = holder.model_dump(mode="json")
    return JSONResponse(body, status_code=exc.status)


async def _holder_view(request: Request, holder_id: int | None) -> CallView | None:
    if holder_id is None:
        return None
    async with context_of(request).session_factory() as session:
        row = await session.get(VoiceCall, holder_id)
        return await call_view(session, row) if row is not None else None


async def _view(request: Request, call_id: int) -> CallView:
    async with context_of(request).session_factory() as session:
        row = await session.get(VoiceCall, call_id)
        assert row is not None
        return await call_view(session, row)


async def _check_alarm(session: SessionDep, user: AlarmHandler, alarm_id: int) -> None:
    async with session.begin():
        await visible_alarm(session, user, alarm_id)


@router.get("/api/alarms/{alarm_id}/call-targets")
async def list_call_targets(
    alarm_id: DbId, user: AnyStaff, session: SessionDep, clock: ClockDep
) -> list[CallTargetView]:
    """Whom the alarm page offers to call: the band's SIM, the resident, each contact, the on-duty
    responder(s); each with its number, or None and the reason (the button is disabled with it)."""
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        return [far.view() for far in await call_targets(session, alarm, at=clock.now())]


@router.post(
    "/api/alarms/{alarm_id}/calls", status_code=status.HTTP_201_CREATED, response_model=CallView, responses=ERRORS
)
async def place_call(
    alarm_id: DbId, body: CallRequest, user: AlarmHandler, request: Request, session: SessionDep, clock: ClockDep
) -> Any:
    """Call the target: Twilio rings the operator's phone, then the target with the centre's number."""
    if body.target not in OUTBOUND_TARGETS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="target: band, resident, contact, responder")
    await _check_alarm(session, user, alarm_id)
    try:
        call_id = await call_desk(request, clock).place(
            alarm_id=alarm_id, staff_id=user.id, target=body.target, target_id=body.target_id
        )
    except CallRefused as exc:
        return _refusal(exc, await _holder_view(request, exc.holder_id))
    return JSONResponse((await _view(request, call_id)).model_dump(mode="json"), status_code=201)


@router.post(
    "/api/alarms/{alarm_id}/calls/{call_id}/add",
    status_code=status.HTTP_201_CREATED,
    response_model=CallView,
    responses=ERRORS,
)
async def add_to_call(
    alarm_id: DbId,
    call_id: DbId,
    body: CallRequest,
    user: AlarmHandler,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
) -> Any:
    """Three-way: ring another person into the call's conference (a new call row)."""
    if body.target not in OUTBOUND_TARGETS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="target: band, resident, contact, responder")
    await _check_alarm(session, user, alarm_id)
    try:
        new_id = await call_desk(request, clock).add(
            alarm_id=alarm_id, call_id=call_id, staff_id=user.id, target=body.target, target_id=body.target_id
        )
    except CallRefused as exc:
        return _refusal(exc, await _holder_view(request, exc.holder_id))
    return JSONResponse((await _view(request, new_id)).model_dump(mode="json"), status_code=201)


@router.post("/api/alarms/{alarm_id}/calls/{call_id}/hang-up", response_model=CallView, responses=ERRORS)
async def hang_up_call(
    alarm_id: DbId, call_id: DbId, user: AlarmHandler, request: Request, session: SessionDep, clock: ClockDep
) -> Any:
    """End the call (its far end; before the bridge, the operator's phone). An ended call: no-op."""
    await _check_alarm(session, user, alarm_id)
    try:
        await call_desk(request, clock).hang_up(alarm_id=alarm_id, call_id=call_id, staff_id=user.id)
    except CallRefused as exc:
        return _refusal(exc)
    return (await _view(request, call_id)).model_dump(mode="json")


# ---- the operator's own phone ---------------------------------------------------------------------


class PhoneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # An E.164 number (Polish without +48 accepted) or a "sip:" address; null or "" clears it.
    phone: Annotated[str | None, Field(max_length=MAX_LENGTH)] = None


class PhoneView(BaseModel):
    phone: str | None


@router.get("/api/me/phone")
async def my_phone(user: AnyStaff, session: SessionDep) -> PhoneView:
    async with session.begin():
        staff = await session.get(StaffUser, user.id)
        return PhoneView(phone=staff.phone if staff is not None else None)


@router.put("/api/me/phone", responses={422: {"description": "not a phone number or SIP address"}})
async def set_my_phone(body: PhoneRequest, user: AnyStaff, session: SessionDep) -> PhoneView:
    """Where Twilio rings this operator first for a call from an alarm."""
    async with session.begin():
        staff = await session.get(StaffUser, user.id)
        if staff is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such account")
        try:
            phone = await set_operator_phone(session, staff, body.phone)
        except BadOperatorPhone as exc:
            detail = [{"loc": ["body", "phone"], "msg": str(exc), "type": "value_error"}]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from None
    return PhoneView(phone=phone)
