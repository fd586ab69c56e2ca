"""An operator's call from an alarm, through a conference named after the alarm.

Placing: Twilio rings the operator's own phone first (their account's number or SIP address); its
TwiML says whom they are being connected to and puts them in conference alarm-{alarm_id}. When
that leg is answered (its status callback "in-progress"), the far end (band SIM, resident,
contact, responder) is rung with the centre's number as caller ID and joins the same conference.
Three-way: another far leg into the same conference. Hang-up: the row's far leg (or, before the
bridge, the operator's), and whoever is left alone in the conference is hung up too.

Every step is a voice_call row move and an alarm_event of type "call" (the timeline, and the live
feed that shows a call in progress on every console). Twilio's callbacks move rows only forward,
so a replayed callback (same CallSid and CallStatus) changes nothing twice. Telephone requests are
made outside any database transaction: a slow Twilio never holds a lock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.claim import claim_alarm
from alarm_center.alarms.lifecycle import MoveRefused
from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmEvent, AlarmStatus
from alarm_center.notify.notifier import mask_phone
from alarm_center.voice.events import CALL_EVENT, add_call_event
from alarm_center.voice.model import LIVE_STATUSES, CallDirection, CallStatus, CallTarget, VoiceCall
from alarm_center.voice.recording import recording_allowed
from alarm_center.voice.targets import Far, TargetNotFound, far_end
from alarm_center.voice.telephone import Telephone, TelephoneUnavailable
from core.clock import Clock
from core.settings import VoiceSettings
from registry.model import StaffUser

log = logging.getLogger(__name__)

Leg = Literal["operator", "far"]
OPERATOR_PHONE_MISSING = "Ustaw swój numer telefonu na stronie Moje konto (/account) albo poleceniem opaska user phone"
# Twilio's final CallStatus words, as our row status.
FINAL: dict[str, CallStatus] = {
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}
ANSWERED = frozenset({"in-progress", "answered"})
# A finished leg's operator phone is hung up at most this long after its call ended (three-way
# calls end leg by leg); older rows are long over.
OPERATOR_LEG_WINDOW = timedelta(hours=3)


def room_of(alarm_id: int) -> str:
    return f"alarm-{alarm_id}"


def twiml_url(public_url: str, call_id: int, leg: Leg) -> str:
    return f"{public_url}/twilio/voice/calls/{call_id}/{leg}"


def status_url(public_url: str, call_id: int, leg: Leg) -> str:
    return f"{public_url}/twilio/voice/calls/{call_id}/status?leg={leg}"


def recording_url(public_url: str, call_id: int) -> str:
    return f"{public_url}/twilio/voice/calls/{call_id}/recording"


class CallRefused(Exception):
    """A call not placed. `status`: the HTTP answer (404, 409, 422, 503); `field`: the request
    field a 422 is about; `number`: what to dial by hand; `holder`: the live call in the way (409)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        number: str | None = None,
        holder_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.number = number
        self.holder_id = holder_id


async def _event(
    session: AsyncSession, row: VoiceCall, event: str, at: datetime, *, by_staff: int | None = None, **more: object
) -> None:
    """One "call" event: the operator's act (`by_staff`), or Twilio's word (the system)."""
    await add_call_event(session, row, event, at=at, staff_id=by_staff, **more)


async def _recorded(session: AsyncSession, row: VoiceCall, event: str) -> bool:
    """Whether this call's `event` is on the timeline already (a replayed callback)."""
    details = await session.execute(
        select(AlarmEvent.detail).where(AlarmEvent.alarm_id == row.alarm_id, AlarmEvent.type == CALL_EVENT)
    )
    return any(d.get("call_id") == row.id and d.get("event") == event for d in details.scalars())


def _end(row: VoiceCall, status: CallStatus, at: datetime, *, error: str | None = None) -> None:
    row.status = status
    row.ended_at = at
    row.updated_at = at
    if error:
        row.error = error[:200]


def _twilio_error(params: Mapping[str, str], word: str) -> str:
    code = params.get("ErrorCode") or params.get("SipResponseCode")
    return f"{word} (kod {code})" if code else word


async def _staff_name(session: AsyncSession, staff_id: int | None) -> str:
    staff = await session.get(StaffUser, staff_id) if staff_id is not None else None
    return staff.full_name if staff is not None else "inny operator"


@dataclass
class _Plan:
    """What to ask of the telephone once the transaction is committed."""

    dial_far: int | None = None  # the call id whose far leg to ring
    hang_up: list[str] = field(default_factory=list)


@dataclass
class CallDesk:
    """Places and follows calls; one per console (the context's telephone, [voice] settings, and
    the public URL Twilio reaches our webhooks on)."""

    sessions: async_sessionmaker[AsyncSession]
    telephone: Telephone
    voice: VoiceSettings
    public_url: str
    clock: Clock

    # ---- the operator's acts ---------------------------------------------------------------------

    async def place(self, *, alarm_id: int, staff_id: int, target: CallTarget, target_id: int | None) -> int:
        """Ring the operator's phone for a call to the target; the new call's id. `CallRefused`."""
        at = self.clock.now()
        async with self.sessions() as session, session.begin():
            alarm = await self._open_alarm(session, alarm_id)
            far = await self._far(session, alarm, target, target_id, at)
            staff = await session.get(StaffUser, staff_id)
            if staff is None or not staff.phone:
                raise CallRefused(422, OPERATOR_PHONE_MISSING, field="operator_phone")
            row = await self._new_row(session, alarm, far, staff_id=staff_id, at=at, operator_address=staff.phone)
            row.status = CallStatus.CALLING_OPERATOR
            await session.flush()
            await _event(
                session, row, "placed", at, by_staff=staff_id, target_name=far.name, number=mask_phone(row.number)
            )
            await self._take(session, alarm, staff_id=staff_id, call_id=row.id)
            call_id, address = row.id, staff.phone
        try:
            sid = await self.telephone.call(
                to=address,
                twiml_url=twiml_url(self.public_url, call_id, "operator"),
                status_url=status_url(self.public_url, call_id, "operator"),
                timeout_s=self.voice.operator_ring_s,
            )
        except TelephoneUnavailable as exc:
            await self._not_placed(call_id, str(exc), "operator")
            raise CallRefused(503, f"{exc}: {far.name}, numer {far.number}", number=far.number) from None
        async with self.sessions() as session, session.begin():
            row = await self._row(session, call_id)
            # The leg's first callback may have got here before Twilio's answer did.
            if row.operator_call_sid is None:
                row.operator_call_sid = sid
        return call_id

    async def add(
        self, *, alarm_id: int, call_id: int, staff_id: int, target: CallTarget, target_id: int | None
    ) -> int:
        """Three-way: ring another far end into the call's conference; the new call's id."""
        at = self.clock.now()
        async with self.sessions() as session, session.begin():
            alarm = await self._open_alarm(session, alarm_id)
            joined = await session.get(VoiceCall, call_id)
            if joined is None or joined.alarm_id != alarm_id:
                raise CallRefused(404, f"alarm {alarm_id} nie ma połączenia {call_id}")
            if joined.direction != CallDirection.OUTBOUND or joined.status not in (
                CallStatus.RINGING,
                CallStatus.IN_PROGRESS,
            ):
                raise CallRefused(409, "do rozmowy można dodać osobę dopiero, gdy operator odebrał swoje połączenie")
            far = await self._far(session, alarm, target, target_id, at)
            row = await self._new_row(session, alarm, far, staff_id=staff_id, at=at, operator_address=None)
            row.status = CallStatus.RINGING
            await session.flush()
            await _event(
                session,
                row,
                "added",
                at,
                by_staff=staff_id,
                target_name=far.name,
                number=mask_phone(row.number),
                to_call_id=joined.id,
            )
            new_id = row.id
        await self._dial_far(new_id)
        async with self.sessions() as session:
            row = await self._row(session, new_id)
            if row.status == CallStatus.FAILED:
                raise CallRefused(503, f"{row.error}: {far.name}, numer {far.number}", number=far.number)
        return new_id

    async def hang_up(self, *, alarm_id: int, call_id: int, staff_id: int) -> None:
        """End the call's far leg (before the bridge: the operator's); its end comes by callback."""
        at = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await session.get(VoiceCall, call_id, with_for_update=True)
            if row is None or row.alarm_id != alarm_id:
                raise CallRefused(404, f"alarm {alarm_id} nie ma połączenia {call_id}")
            if row.status not in LIVE_STATUSES:
                return
            await _event(session, row, "hung_up", at, by_staff=staff_id)
            sid, number = row.far_call_sid or row.operator_call_sid, row.number
            if sid is None:
                # Nothing reached Twilio (or its answer never came): nothing to wait for.
                _end(row, CallStatus.CANCELED, at)
                await _event(session, row, "canceled", at)
                return
        try:
            await self.telephone.hang_up(sid)
        except TelephoneUnavailable as exc:
            raise CallRefused(503, str(exc), number=number) from None

    # ---- Twilio's status callbacks ------------------------------------------------------------------

    async def on_status(self, call_id: int, leg: Leg, params: Mapping[str, str]) -> bool:
        """One leg's progress; False when it is about no call of ours."""
        sid, word = params.get("CallSid", ""), params.get("CallStatus", "")
        at = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await session.get(VoiceCall, call_id, with_for_update=True)
            if row is None or not _same_leg(row, leg, sid):
                return False
            if leg == "operator":
                plan = await self._operator_leg(session, row, word, params, at)
            else:
                plan = await self._far_leg(session, row, word, params, at)
        await self._carry_out(plan)
        return True

    async def _operator_leg(
        self, session: AsyncSession, row: VoiceCall, word: str, params: Mapping[str, str], at: datetime
    ) -> _Plan:
        plan = _Plan()
        if row.direction == CallDirection.INBOUND:
            await _inbound_operator_leg(session, row, word, params, at)
            return plan
        if word in ANSWERED:
            if row.status == CallStatus.CALLING_OPERATOR:
                row.status, row.updated_at = CallStatus.RINGING, at
                await _event(session, row, "operator_answered", at, leg="operator")
                plan.dial_far = row.id
        elif word in FINAL:
            if row.status == CallStatus.CALLING_OPERATOR:
                # The operator never picked up: the far end was never rung.
                outcome = FINAL[word] if word != "completed" else CallStatus.CANCELED
                _end(row, outcome, at, error=_twilio_error(params, f"operator: {word}"))
                await _event(session, row, _event_name(outcome), at, leg="operator", error=row.error)
            elif row.status == CallStatus.RINGING:
                if row.far_call_sid is not None:
                    plan.hang_up.append(row.far_call_sid)  # its "canceled" callback ends the row
                else:
                    _end(row, CallStatus.CANCELED, at, error="operator: rozłączył się przed połączeniem")
                    await _event(session, row, "canceled", at, leg="operator")
            elif row.status == CallStatus.IN_PROGRESS:
                # The operator dropped out: two others talk on (three-way); one alone is hung up.
                live = await _live_far_legs(session, row.room)
                if len(live) <= 1:
                    plan.hang_up += live
        return plan

    async def _far_leg(
        self, session: AsyncSession, row: VoiceCall, word: str, params: Mapping[str, str], at: datetime
    ) -> _Plan:
        plan = _Plan()
        if row.status not in (CallStatus.RINGING, CallStatus.IN_PROGRESS):
            return plan
        if word == "ringing":
            if row.status == CallStatus.RINGING and not await _recorded(session, row, "ringing"):
                await _event(session, row, "ringing", at, leg="far")
        elif word in ANSWERED:
            if row.status == CallStatus.RINGING:
                row.status, row.answered_at, row.updated_at = CallStatus.IN_PROGRESS, at, at
                await _event(session, row, "answered", at, leg="far")
        elif word in FINAL:
            outcome = FINAL[word]
            if outcome == CallStatus.COMPLETED:
                row.duration_s = _seconds(params.get("CallDuration"))
                _end(row, outcome, at)
                await _event(session, row, "completed", at, leg="far", duration_s=row.duration_s)
            else:
                _end(row, outcome, at, error=_twilio_error(params, word))
                await _event(session, row, _event_name(outcome), at, leg="far", error=row.error)
            # Nobody left to talk to: the operator's phone is hung up, not left in an empty room.
            await session.flush()
            if not await _live_far_legs(session, row.room):
                plan.hang_up += await _operator_legs(session, row.room, at)
        return plan

    # ---- helpers -----------------------------------------------------------------------------------

    async def _open_alarm(self, session: AsyncSession, alarm_id: int) -> Alarm:
        # Locked: two operators calling the same number at once are told apart here (PostgreSQL).
        alarm = await session.get(Alarm, alarm_id, with_for_update=True)
        if alarm is None:
            raise CallRefused(404, f"alarm {alarm_id} nie istnieje")
        if alarm.status not in OPEN_STATUSES:
            raise CallRefused(409, f"alarm {alarm_id} jest zamknięty: połączenia wykonuje się z otwartego alarmu")
        return alarm

    async def _take(self, session: AsyncSession, alarm: Alarm, *, staff_id: int, call_id: int) -> None:
        """The operator calling about an alarm nobody has taken takes it (as answering a call in
        does): the escalation stops ringing colleagues while they talk. Installation tests are taken
        on their own page; a colleague taking it first changes nothing for the call."""
        if alarm.status != AlarmStatus.RAISED or alarm.is_test:
            return
        with contextlib.suppress(MoveRefused):
            async with session.begin_nested():
                await claim_alarm(
                    session, self.clock, alarm_id=alarm.id, staff_id=staff_id, detail={"call_id": call_id}
                )

    async def _far(
        self, session: AsyncSession, alarm: Alarm, target: CallTarget, target_id: int | None, at: datetime
    ) -> Far:
        try:
            far = await far_end(session, alarm, target, target_id, at=at)
        except TargetNotFound as exc:
            raise CallRefused(422, str(exc), field="target_id") from None
        if far.number is None:
            raise CallRefused(422, f"{far.name}: {far.reason}", field="target")
        holder = (
            await session.execute(
                select(VoiceCall)
                .where(
                    VoiceCall.alarm_id == alarm.id,
                    VoiceCall.number == far.number,
                    VoiceCall.status.in_([s.value for s in LIVE_STATUSES]),
                )
                .order_by(VoiceCall.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if holder is not None:
            who = await _staff_name(session, holder.staff_id)
            raise CallRefused(
                409,
                f"{far.name} ({far.number}): połączenie w tej sprawie już trwa — prowadzi je {who}",
                holder_id=holder.id,
            )
        return far

    async def _new_row(
        self,
        session: AsyncSession,
        alarm: Alarm,
        far: Far,
        *,
        staff_id: int,
        at: datetime,
        operator_address: str | None,
    ) -> VoiceCall:
        assert far.number is not None
        row = VoiceCall(
            alarm_id=alarm.id,
            direction=CallDirection.OUTBOUND.value,
            staff_id=staff_id,
            operator_address=operator_address,
            target=far.target.value,
            target_id=far.target_id,
            number=far.number,
            room=room_of(alarm.id),
            status=CallStatus.CALLING_OPERATOR.value,
            created_at=at,
            updated_at=at,
        )
        session.add(row)
        return row

    async def _row(self, session: AsyncSession, call_id: int) -> VoiceCall:
        row = await session.get(VoiceCall, call_id)
        assert row is not None, f"voice_call {call_id} vanished"
        return row

    async def _not_placed(self, call_id: int, error: str, leg: Leg) -> None:
        at = self.clock.now()
        async with self.sessions() as session, session.begin():
            row = await self._row(session, call_id)
            if row.status in LIVE_STATUSES:
                _end(row, CallStatus.FAILED, at, error=error)
                await _event(session, row, "failed", at, leg=leg, error=row.error)

    async def _dial_far(self, call_id: int) -> None:
        """Ring the call's far end into the conference (the operator answered, or a three-way add)."""
        async with self.sessions() as session:
            row = await self._row(session, call_id)
            record = await recording_allowed(session, alarm_id=row.alarm_id, voice=self.voice)
            number = row.number
        try:
            sid = await self.telephone.call(
                to=number,
                twiml_url=twiml_url(self.public_url, call_id, "far"),
                status_url=status_url(self.public_url, call_id, "far"),
                timeout_s=self.voice.far_ring_s,
                record=record,
                recording_status_url=recording_url(self.public_url, call_id) if record else None,
            )
        except TelephoneUnavailable as exc:
            await self._not_placed(call_id, str(exc), "far")
            async with self.sessions() as session:
                row = await self._row(session, call_id)
                alone = await _operator_legs(session, row.room, self.clock.now())
            await self._carry_out(_Plan(hang_up=[] if await self._others_live(row.room) else alone))
            return
        async with self.sessions() as session, session.begin():
            row = await self._row(session, call_id)
            if row.far_call_sid is None:
                row.far_call_sid = sid
            ended = row.status not in LIVE_STATUSES
        if ended:
            # The operator hung up while the far end was being dialled.
            await self._carry_out(_Plan(hang_up=[sid]))

    async def _others_live(self, room: str) -> bool:
        async with self.sessions() as session:
            return bool(await _live_far_legs(session, room))

    async def _carry_out(self, plan: _Plan) -> None:
        if plan.dial_far is not None:
            await self._dial_far(plan.dial_far)
        for sid in plan.hang_up:
            try:
                await self.telephone.hang_up(sid)
            except TelephoneUnavailable as exc:
                log.warning("could not hang up call %s: %s", sid, exc)


def _same_leg(row: VoiceCall, leg: Leg, sid: str) -> bool:
    """The callback is about this row's leg: its sid, or the first sid heard for it (a callback may
    arrive before Twilio's answer to our create did)."""
    if not sid:
        return False
    if leg == "operator":
        if row.operator_call_sid is None and (row.operator_address is not None or row.direction == "inbound"):
            row.operator_call_sid = sid
        return row.operator_call_sid == sid
    if row.far_call_sid is None and row.direction == CallDirection.OUTBOUND:
        row.far_call_sid = sid
    return row.far_call_sid == sid


def _event_name(status: CallStatus) -> str:
    return str(status.value)


def _seconds(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


async def _live_far_legs(session: AsyncSession, room: str) -> list[str]:
    """Far legs still ringing or talking in the conference."""
    rows = await session.execute(
        select(VoiceCall.far_call_sid).where(
            VoiceCall.room == room,
            VoiceCall.direction == CallDirection.OUTBOUND,
            VoiceCall.far_call_sid.is_not(None),
            VoiceCall.status.in_([CallStatus.RINGING.value, CallStatus.IN_PROGRESS.value]),
        )
    )
    return [sid for sid in rows.scalars() if sid is not None]


async def _operator_legs(session: AsyncSession, room: str, at: datetime) -> list[str]:
    """Operators' legs in the conference that may still be up (their call live, or just ended)."""
    rows = await session.execute(
        select(VoiceCall.operator_call_sid).where(
            VoiceCall.room == room,
            VoiceCall.direction == CallDirection.OUTBOUND,
            VoiceCall.operator_call_sid.is_not(None),
            (VoiceCall.ended_at.is_(None)) | (VoiceCall.ended_at >= at - OPERATOR_LEG_WINDOW),
        )
    )
    return [sid for sid in rows.scalars() if sid is not None]


async def _inbound_operator_leg(
    session: AsyncSession, row: VoiceCall, word: str, params: Mapping[str, str], at: datetime
) -> None:
    """The answering operator's leg of a call in (it takes the caller from the queue)."""
    if word in ANSWERED and row.status == CallStatus.ANSWERING:
        row.status, row.answered_at, row.updated_at = CallStatus.IN_PROGRESS, at, at
        await _event(session, row, "answered", at, leg="operator")
    elif word in FINAL:
        if row.status == CallStatus.ANSWERING:
            # The operator did not pick up: the caller still waits in the queue, for anyone (as
            # inbound.py puts a call back when the telephone refuses the operator's leg).
            staff_id = row.staff_id
            row.status, row.updated_at = CallStatus.QUEUED, at
            row.staff_id = row.operator_address = row.operator_call_sid = None
            outcome = FINAL[word] if word != "completed" else CallStatus.CANCELED
            error = _twilio_error(params, word)
            await _event(session, row, _event_name(outcome), at, leg="operator", operator_id=staff_id, error=error)
        elif row.status == CallStatus.IN_PROGRESS:
            row.duration_s = _seconds(params.get("CallDuration"))
            _end(row, CallStatus.COMPLETED, at)
            await _event(session, row, "completed", at, leg="operator", duration_s=row.duration_s)


__all__ = ["CallDesk", "CallRefused", "CallTarget", "room_of"]
