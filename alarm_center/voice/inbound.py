"""Calls to the centre's number: a band's own SIM, a resident, a relative, or a stranger.

The caller is identified by caller ID (E.164): a band's SIM, a resident's phone, a contact's phone
(their resident's band), or nobody. The call joins the band's open life alarm (SOS, fall or an
earlier call), or raises a `voice_call` alarm through the normal intake, so escalation starts as
for a press of the button. The caller waits in a Twilio queue named after the alarm
(`alarm-{id}`) until an operator presses "Odbierz": Twilio rings the operator's phone and, when
picked up, dequeues the caller to it. A caller who hangs up while waiting leaves the alarm open.

Every step is an alarm_event of type "call" (the timeline and the live feed), and each function
is idempotent against Twilio's retries: a step already taken changes nothing twice. None of these
commit; the caller's unit of work does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.claim import claim_alarm
from alarm_center.alarms.intake import IntakeRace, raise_voice_call
from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmKind, AlarmStatus
from alarm_center.escalation.policy import PolicyBook
from alarm_center.notify.notifier import mask_phone
from alarm_center.voice.events import add_call_event
from alarm_center.voice.model import CallDirection, CallStatus, CallTarget, VoiceCall
from core.clock import Clock
from core.settings import VoiceSettings
from registry.installation_test import in_test_mode
from registry.model import Band, BandStatus, Contact, Municipality, Resident, StaffUser
from registry.phones import InvalidPhone, to_e164

log = logging.getLogger(__name__)

# What the caller hears first, then again while waiting (TwiML in console/voice_inbound.py).
WAIT_MESSAGE = "Centrum alarmowe, proszę czekać, operator zaraz się zgłosi."
# Life alarms a call joins: the band's press, its fall, or its earlier call still open.
LIFE_KINDS = (AlarmKind.SOS.value, AlarmKind.FALL.value, AlarmKind.VOICE_CALL.value)
# Twilio's caller ID when the number is withheld, and anything that is no number at all.
NUMBER_MAX = 20


def masked(number: str) -> str:
    """For the timeline: a phone number masked (+48601***567); a withheld one ("anonymous") as it is."""
    return mask_phone(number) if number.startswith("+") else number


def queue_name(alarm_id: int) -> str:
    """The Twilio queue (and the row's room) the alarm's callers wait in."""
    return f"alarm-{alarm_id}"


@dataclass(frozen=True)
class Caller:
    """Who is calling, as far as caller ID tells."""

    target: CallTarget
    # The band's, resident's or contact's id, by `target`; None for an unknown caller.
    target_id: int | None
    # E.164 when it parses; else what Twilio sent (e.g. "anonymous"), cut to the column.
    number: str
    band_id: int | None
    resident_id: int | None
    municipality_id: int | None
    # The band is in its installation test: the call is a test like its presses.
    is_test: bool = False


def normalise(raw: str) -> str:
    """The caller's number in E.164 (Polish numbers without +48 accepted), or the raw caller ID
    (withheld numbers arrive as words) cut to what the row holds."""
    try:
        return to_e164(raw.strip())
    except InvalidPhone:
        return raw.strip()[:NUMBER_MAX] or "unknown"


async def _resident_band(session: AsyncSession, resident_id: int) -> Band | None:
    """The band the resident wears now (the newest active one, if ever two)."""
    query = (
        select(Band)
        .where(Band.resident_id == resident_id, Band.status == BandStatus.ACTIVE.value)
        .order_by(Band.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _municipality_of(session: AsyncSession, resident_id: int | None) -> int | None:
    if resident_id is None:
        return None
    query = select(Resident.municipality_id).where(Resident.id == resident_id)
    return (await session.execute(query)).scalar_one_or_none()


async def _unknown_callers_municipality(session: AsyncSession, voice: VoiceSettings) -> int | None:
    """The municipality configured for the centre's number; None (administrators only) if unset."""
    code = voice.unknown_caller_municipality.strip()
    if not code:
        return None
    found = (await session.execute(select(Municipality.id).where(Municipality.code == code))).scalar_one_or_none()
    if found is None:
        log.warning("[voice] unknown_caller_municipality %r names no municipality: the alarm has none", code)
    return found


async def _open_life_alarm_of_resident(session: AsyncSession, resident_id: int) -> bool:
    query = select(Alarm.id).where(
        Alarm.resident_id == resident_id, Alarm.kind.in_(LIFE_KINDS), Alarm.status.in_(OPEN_STATUSES)
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none() is not None


async def identify_caller(session: AsyncSession, raw_number: str, *, voice: VoiceSettings, at: datetime) -> Caller:
    """A band's SIM first (the band on the wrist calls), then a resident's phone, then a contact's
    phone (a relative calling about their resident), else unknown."""
    number = normalise(raw_number)
    band = (
        await session.execute(
            select(Band)
            .where(Band.sim_phone == number, Band.status != BandStatus.RETIRED.value)
            .order_by(Band.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if band is not None:
        municipality_id = await _municipality_of(session, band.resident_id)
        if band.resident_id is None:
            # A band in stock calling: nobody's alarm, but someone is on the line.
            municipality_id = await _unknown_callers_municipality(session, voice)
        return Caller(
            CallTarget.BAND, band.id, number, band.id, band.resident_id, municipality_id, in_test_mode(band, at)
        )

    resident = (
        await session.execute(
            select(Resident).where(Resident.phone == number, Resident.active.is_(True)).order_by(Resident.id).limit(1)
        )
    ).scalar_one_or_none()
    if resident is not None:
        worn = await _resident_band(session, resident.id)
        return Caller(
            CallTarget.RESIDENT,
            resident.id,
            number,
            worn.id if worn is not None else None,
            resident.id,
            resident.municipality_id,
        )

    contacts = list(
        (
            await session.execute(
                select(Contact)
                .join(Resident, Resident.id == Contact.resident_id)
                .where(Contact.phone == number, Resident.active.is_(True))
                .order_by(Contact.priority, Contact.id)
            )
        ).scalars()
    )
    if contacts:
        # A relative of two residents: the one with an alarm open is the likelier reason to call.
        chosen = contacts[0]
        for contact in contacts:
            if await _open_life_alarm_of_resident(session, contact.resident_id):
                chosen = contact
                break
        worn = await _resident_band(session, chosen.resident_id)
        return Caller(
            CallTarget.CONTACT,
            chosen.id,
            number,
            worn.id if worn is not None else None,
            chosen.resident_id,
            await _municipality_of(session, chosen.resident_id),
        )

    return Caller(CallTarget.UNKNOWN, None, number, None, None, await _unknown_callers_municipality(session, voice))


async def _open_alarm_for(session: AsyncSession, caller: Caller) -> Alarm | None:
    """The open life alarm this call belongs to: the band's (or, without a band, the resident's);
    for an unknown number, the open alarm its earlier call raised."""
    query = select(Alarm).where(Alarm.kind.in_(LIFE_KINDS), Alarm.status.in_(OPEN_STATUSES))
    if caller.band_id is not None:
        query = query.where(Alarm.band_id == caller.band_id)
    elif caller.resident_id is not None:
        query = query.where(Alarm.resident_id == caller.resident_id)
    elif not caller.number.startswith("+"):
        # A withheld number ("anonymous"): two such callers are not the same person.
        return None
    else:
        query = query.where(
            Alarm.band_id.is_(None),
            Alarm.resident_id.is_(None),
            Alarm.kind == AlarmKind.VOICE_CALL.value,
            Alarm.id.in_(
                select(VoiceCall.alarm_id).where(
                    VoiceCall.number == caller.number, VoiceCall.direction == CallDirection.INBOUND.value
                )
            ),
        )
    # A real alarm before a technician's test one; the newest first.
    query = query.order_by(Alarm.is_test, Alarm.raised_at.desc(), Alarm.id.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


@dataclass(frozen=True)
class Queued:
    call_id: int
    alarm_id: int
    room: str
    # A new voice_call alarm was raised for this call (not joined to an open one).
    raised: bool
    # Twilio asked again about a call already queued (a retry): nothing was written.
    replay: bool = False


async def _by_sid(session: AsyncSession, call_sid: str) -> VoiceCall | None:
    query = select(VoiceCall).where(VoiceCall.far_call_sid == call_sid)
    return (await session.execute(query)).scalar_one_or_none()


async def receive_call(
    session: AsyncSession,
    *,
    call_sid: str,
    from_number: str,
    at: datetime,
    voice: VoiceSettings,
    policies: PolicyBook | None = None,
) -> Queued:
    """A call to the centre's number: identify the caller, find or raise its alarm, queue the call.
    The same CallSid again (Twilio retrying its webhook) finds the row it made and changes nothing."""
    if call_sid:
        earlier = await _by_sid(session, call_sid)
        if earlier is not None:
            return Queued(earlier.id, earlier.alarm_id, earlier.room, raised=False, replay=True)
    caller = await identify_caller(session, from_number, voice=voice, at=at)
    alarm = await _open_alarm_for(session, caller)
    raised = alarm is None
    if alarm is None:
        new_id = await raise_voice_call(
            session,
            band_id=caller.band_id,
            resident_id=caller.resident_id,
            municipality_id=caller.municipality_id,
            received_at=at,
            is_test=caller.is_test,
            detail={"caller": caller.target.value, "number": masked(caller.number)},
            policies=policies,
        )
        if new_id is None:
            # Another call of this band raised its alarm a moment ago: join that one.
            raised = False
            alarm = await _open_alarm_for(session, caller)
            if alarm is None:
                raise IntakeRace(f"open voice_call alarm of band {caller.band_id} closed during intake")
    alarm_id = alarm.id if alarm is not None else new_id
    assert alarm_id is not None
    call = VoiceCall(
        alarm_id=alarm_id,
        direction=CallDirection.INBOUND.value,
        target=caller.target.value,
        target_id=caller.target_id,
        number=caller.number,
        room=queue_name(alarm_id),
        status=CallStatus.QUEUED.value,
        far_call_sid=call_sid or None,
        created_at=at,
        updated_at=at,
    )
    session.add(call)
    await session.flush()
    await add_call_event(session, call, "incoming", at=at, caller=caller.target.value, number=masked(caller.number))
    return Queued(call.id, alarm_id, call.room, raised=raised)


class AnswerRefused(Exception):
    """The call cannot be answered now; `conflict` False: no such waiting call (404)."""

    def __init__(self, message: str, *, conflict: bool = True) -> None:
        super().__init__(message)
        self.conflict = conflict


@dataclass(frozen=True)
class Answering:
    call_id: int
    alarm_id: int
    # The caller's number: on a refusal of the telephone, the operator dials it by hand.
    number: str
    operator_address: str


async def _holder_name(session: AsyncSession, staff_id: int | None) -> str:
    if staff_id is None:
        return "inny operator"
    name = (await session.execute(select(StaffUser.full_name).where(StaffUser.id == staff_id))).scalar_one_or_none()
    return name or "inny operator"


async def start_answering(
    session: AsyncSession,
    clock: Clock,
    *,
    alarm_id: int,
    call_id: int,
    staff_id: int,
    operator_address: str,
) -> Answering:
    """An operator pressed "Odbierz": the waiting call becomes theirs (exactly one operator wins a
    race), and they take the alarm if nobody has it. Twilio is rung afterwards, out of the
    transaction (`answer_placed` / `answer_failed`)."""
    at = clock.now()
    call = await session.get(VoiceCall, call_id)
    if call is None or call.alarm_id != alarm_id or call.direction != CallDirection.INBOUND.value:
        raise AnswerRefused(f"alarm {alarm_id} has no incoming call {call_id}", conflict=False)
    won = await session.execute(
        update(VoiceCall)
        .where(VoiceCall.id == call_id, VoiceCall.status == CallStatus.QUEUED.value)
        .values(
            status=CallStatus.ANSWERING.value,
            staff_id=staff_id,
            operator_address=operator_address,
            operator_call_sid=None,
            updated_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
        await session.refresh(call)
        if call.status in (CallStatus.ANSWERING.value, CallStatus.IN_PROGRESS.value):
            who = await _holder_name(session, call.staff_id)
            raise AnswerRefused(f"Połączenie odbiera już {who}.")
        if call.status == CallStatus.ABANDONED.value:
            raise AnswerRefused("Dzwoniący rozłączył się, zanim ktoś odebrał — oddzwoń do niego.")
        raise AnswerRefused("To połączenie już się zakończyło.")
    await session.refresh(call)
    alarm = await session.get(Alarm, alarm_id)
    if alarm is not None and alarm.status == AlarmStatus.RAISED.value:
        # Claiming pauses the escalation: someone is about to talk to the caller.
        await claim_alarm(session, clock, alarm_id=alarm_id, staff_id=staff_id, detail={"call_id": call_id})
    await add_call_event(session, call, "answering", at=at, staff_id=staff_id)
    return Answering(call.id, alarm_id, call.number, operator_address)


async def answer_placed(session: AsyncSession, *, call_id: int, operator_call_sid: str, at: datetime) -> VoiceCall:
    """Twilio took the call to the operator's phone: remember its sid (status callbacks, hang-up),
    unless a callback of that leg came first and moved the row on."""
    # Read afresh: the row may have moved since this session last saw it.
    call = await session.get(VoiceCall, call_id, populate_existing=True)
    assert call is not None  # rows are never deleted while their alarm lives
    if call.operator_call_sid is None and call.status in (CallStatus.ANSWERING.value, CallStatus.IN_PROGRESS.value):
        call.operator_call_sid = operator_call_sid
        call.updated_at = at
    return call


async def _back_to_queue(session: AsyncSession, call: VoiceCall, event: str, *, at: datetime, **more: Any) -> None:
    """The operator's phone did not take the caller: the caller still waits, anyone may answer."""
    staff_id = call.staff_id
    call.status = CallStatus.QUEUED.value
    call.staff_id = None
    call.operator_address = None
    call.operator_call_sid = None
    call.updated_at = at
    await add_call_event(session, call, event, at=at, leg="operator", operator_id=staff_id, **more)


async def answer_failed(session: AsyncSession, *, call_id: int, staff_id: int, error: str, at: datetime) -> None:
    """The telephone refused to ring the operator (offline, Twilio down): the caller goes on waiting."""
    call = await session.get(VoiceCall, call_id, populate_existing=True)
    if call is None or call.status != CallStatus.ANSWERING.value or call.staff_id != staff_id:
        return
    call.error = error[:200]
    await _back_to_queue(session, call, "failed", at=at, error=error[:200])


async def room_to_take(session: AsyncSession, *, call_id: int) -> str | None:
    """Twilio asks what the answering operator's leg does (the take TwiML): the queue to take the
    caller from, or None when nobody waits any more (the caller hung up meanwhile). The leg's
    "answered" status callback (console/voice_hooks.py) marks the call in progress."""
    call = await session.get(VoiceCall, call_id)
    if call is None or call.direction != CallDirection.INBOUND.value:
        return None
    if call.status not in (CallStatus.ANSWERING.value, CallStatus.IN_PROGRESS.value):
        return None
    return call.room


def _duration(call: VoiceCall, at: datetime, reported: str | None) -> int:
    if reported and reported.isdigit():
        return int(reported)
    start = call.answered_at or call.created_at
    return max(0, round((at - start).total_seconds()))


async def _complete(session: AsyncSession, call: VoiceCall, *, at: datetime, duration_s: int) -> None:
    call.status = CallStatus.COMPLETED.value
    call.ended_at = at
    call.duration_s = duration_s
    call.updated_at = at
    await add_call_event(session, call, "completed", at=at, duration_s=duration_s)


@dataclass(frozen=True)
class Left:
    # The operator's leg to hang up (the caller hung up while their phone rang).
    hang_up_sid: str | None
    changed: bool


async def caller_left(
    session: AsyncSession, *, call_id: int, queue_result: str, queue_time: str | None, at: datetime
) -> Left:
    """The Enqueue action: the caller left the queue. Hung up while waiting: abandoned, the alarm
    stays open (escalating); bridged: the conversation is over."""
    call = await session.get(VoiceCall, call_id)
    if call is None or call.direction != CallDirection.INBOUND.value:
        return Left(None, False)
    waited_s = int(queue_time) if queue_time and queue_time.isdigit() else _duration(call, at, None)
    if queue_result in ("bridged", "bridging-in-process"):
        # The conversation is over. The operator's leg's own "completed" callback carries Twilio's
        # CallDuration, the talk time to keep; only without a known leg is it measured here.
        if call.status == CallStatus.IN_PROGRESS.value and call.operator_call_sid is None:
            await _complete(session, call, at=at, duration_s=_duration(call, at, None))
            return Left(None, True)
        return Left(None, False)
    if call.status not in (CallStatus.QUEUED.value, CallStatus.ANSWERING.value):
        return Left(None, False)
    ringing_operator = call.operator_call_sid if call.status == CallStatus.ANSWERING.value else None
    call.ended_at = at
    call.updated_at = at
    if queue_result == "hangup":
        call.status = CallStatus.ABANDONED.value
        await add_call_event(session, call, "abandoned", at=at, waited_s=waited_s)
    else:
        # queue-full, error, system-error: Twilio could not keep the caller; they are to be called back.
        call.status = CallStatus.FAILED.value
        call.error = f"queue: {queue_result}"[:200]
        await add_call_event(session, call, "failed", at=at, waited_s=waited_s, error=call.error)
    return Left(ringing_operator, True)


async def waiting_caller(session: AsyncSession, *, alarm_id: int) -> str | None:
    """The number of a caller still waiting in the alarm's queue (or being answered), if any."""
    found = await session.execute(
        select(VoiceCall.number)
        .where(
            VoiceCall.alarm_id == alarm_id,
            VoiceCall.direction == CallDirection.INBOUND.value,
            VoiceCall.status.in_([CallStatus.QUEUED.value, CallStatus.ANSWERING.value]),
        )
        .limit(1)
    )
    return found.scalar_one_or_none()
