"""The voice model: calls that ring scripted phones, follow their TwiML, meet in conferences and queues, are
recorded, and report every step by signed status callbacks — in virtual time (see `clock`).

Only calls the model owns are acted out: calls to a number with a `CallScript`, every <Dial>ed leg, every
participant added by the API and every `incoming_call`. A call to an unscripted number stays what it was before
the model: a record the test drives by hand (`call_status`, `answer_call`, `press`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from urllib.parse import urljoin

from simulator.fake_twilio.clock import VoiceClock, Waiter
from simulator.fake_twilio.config import CallScript, FakeConfig
from simulator.fake_twilio.legs import HungUp, Leg, RecordingPlan, Redirected
from simulator.fake_twilio.records import CallbackResult, FakeCall, new_sid, rfc2822
from simulator.fake_twilio.rooms import FakeConference, FakeParticipant, FakeQueue, FakeRecording
from simulator.fake_twilio.store import Store
from simulator.fake_twilio.voice import Voice
from simulator.fake_twilio.webhooks import WebhookSender

# Conference statusCallbackEvent words and the StatusCallbackEvent values they subscribe to.
CONFERENCE_EVENTS = {
    "start": "conference-start",
    "end": "conference-end",
    "join": "participant-join",
    "leave": "participant-leave",
    "mute": "participant-mute",
    "hold": "participant-hold",
}
_DEFAULT_TIMEOUT = 60.0  # Twilio rings an API call for 60 s unless `Timeout` says otherwise


@dataclass
class DialResult:
    """How a <Dial> ended, as its `action` hears it."""

    status: str  # DialCallStatus: completed, busy, no-answer, failed, canceled
    call_sid: str | None = None
    duration: int = 0
    recording: FakeRecording | None = None
    caller_gone: bool = False  # the dialling call hung up while the Dial ran


class VoiceModel:
    def __init__(self, config: FakeConfig, store: Store, webhooks: WebhookSender, voice: Voice) -> None:
        self._config = config
        self._store = store
        self._webhooks = webhooks
        self._voice = voice
        self.clock: VoiceClock = voice.clock
        self.legs: dict[str, Leg] = {}
        self.conferences: list[FakeConference] = []
        self.queues: list[FakeQueue] = []
        self.recordings: list[FakeRecording] = []
        # Calls in a <Dial><Queue> waiting for someone to join that (empty) queue, by queue sid.
        self.dequeuers: dict[str, list[Leg]] = {}
        from simulator.fake_twilio.twiml import TwimlRunner  # the runner calls back into the model

        self.runner = TwimlRunner(self, config, webhooks)

    def touch(self) -> None:
        self._store.touch()

    # -- legs ---------------------------------------------------------------------------------------------------

    def script_for(self, number: str, *, default: CallScript | None = None) -> CallScript | None:
        return self._config.scripts.get(number, default)

    def adopt(self, call: FakeCall, script: CallScript) -> Leg:
        call.modelled = True
        leg = Leg(call=call, script=script, digits=list(script.digits))
        self.legs[call.sid] = leg
        return leg

    def leg(self, sid: str) -> Leg | None:
        return self.legs.get(sid)

    async def wait(self, leg: Leg, seconds: float | None = None) -> str:
        """Wait for a signal to `leg` (or `seconds`: "timeout"); hang-ups and redirects raise."""
        if leg.pending:
            reason = leg.pending.pop(0)
        else:
            waiter = Waiter(self.clock)
            leg.waiter = waiter
            try:
                reason = await self.clock.wait(waiter, seconds)
            finally:
                leg.waiter = None
        if reason == "hangup":
            raise HungUp
        if reason == "redirect":
            url, twiml = leg.redirect_to or (None, None)
            leg.redirect_to = None
            raise Redirected(url, twiml)
        return reason

    def hang_up(self, leg: Leg, *, by: str) -> None:
        if leg.finished:
            return
        if leg.hangup_by is None:
            leg.hangup_by = by
        leg.signal("hangup")

    def redirect(self, leg: Leg, *, url: str | None, twiml: str | None) -> None:
        leg.redirect_to = (url, twiml)
        leg.signal("redirect")

    async def end_by_hand(self, sid: str, status: str) -> None:
        """A call the model does not act out, ended by the API: its final status (and callback)."""
        await self._voice.call_status(sid, status)

    async def status(self, leg: Leg, status: str) -> CallbackResult | None:
        try:
            return await self._voice.call_status(leg.call.sid, status)
        except Exception as error:  # opaska down or unmapped: Twilio notes it and carries on with the call
            leg.call.notifications.append(f"15003 status callback failed: {error!r}")
            return None

    # -- an outbound leg's life -----------------------------------------------------------------------------------

    def start_outbound(self, call: FakeCall, script: CallScript) -> Leg:
        """A call created by the API to a scripted number: ring, answer, follow its Url/Twiml, end."""
        leg = self.adopt(call, script)
        timeout = _seconds(call.form.get("Timeout", [""])[-1], _DEFAULT_TIMEOUT)
        if call.form.get("Record", [""])[-1].lower() == "true":
            leg.record = RecordingPlan(
                callback=call.form.get("RecordingStatusCallback", [None])[-1],
                events=_events(call.form.get("RecordingStatusCallbackEvent", []), default="completed"),
                source="OutboundAPI",
                channels=2 if call.form.get("RecordingChannels", ["mono"])[-1] == "dual" else 1,
            )
        self.clock.spawn(self._outbound(leg, timeout), name=f"call {call.sid}")
        return leg

    async def _outbound(self, leg: Leg, timeout: float) -> None:
        outcome = await self.ring(leg, timeout)
        if outcome != "answered":
            await self.finish(leg, outcome)
            return
        await self.answered(leg)
        await self.runner.run_call(leg, url=leg.call.url, twiml=leg.call.twiml)
        await self.finish(leg, "completed")

    async def ring(self, leg: Leg, timeout: float) -> str:
        """Dial the leg's phone and act out its script: "answered", or the final status it ends in."""
        await self.status(leg, "initiated")
        script = leg.script
        if script.outcome == "failed":
            return "failed"
        try:
            if script.outcome == "busy":
                reason = await self.wait(leg, script.after)
                return "busy" if reason == "timeout" else _manual_outcome(reason)
            await self.status(leg, "ringing")
            if script.outcome == "answer" and script.after < timeout:
                reason = await self.wait(leg, script.after)
                return "answered" if reason == "timeout" else _manual_outcome(reason)
            reason = await self.wait(leg, timeout)
            return "no-answer" if reason == "timeout" else _manual_outcome(reason)
        except HungUp:
            return "canceled"
        except Redirected:
            return "canceled"

    async def answered(self, leg: Leg) -> None:
        if leg.hangup_by is not None:
            return  # hung up before it was put through
        leg.answered = True
        await self.status(leg, "in-progress")
        if leg.record is not None and leg.record.started is None:
            leg.record.started = self.clock.now()
        after = leg.script.hang_up_after
        if after is not None:
            self.clock.call_later(after, lambda: self.hang_up(leg, by="callee"))

    async def finish(self, leg: Leg, status: str) -> None:
        """The call ends in `status`: its final status callback, and its recording if it had one."""
        if leg.finished:
            return
        leg.finished = True
        leg.waiter = None
        if status == "completed" and not leg.answered:
            status = "canceled"
        await self.status(leg, status)
        if leg.record is not None and leg.record.started is not None:
            await self.save_recording(leg.call.sid, leg.record)

    # -- recordings -------------------------------------------------------------------------------------------

    async def save_recording(
        self, call_sid: str, plan: RecordingPlan, *, conference_sid: str | None = None
    ) -> FakeRecording:
        assert plan.started is not None
        moment = self.clock.now()
        recording = FakeRecording(
            sid=new_sid("RE"),
            account_sid=self._config.account_sid,
            call_sid=call_sid,
            date_created=moment,
            start_time=plan.started,
            duration=round((moment - plan.started).total_seconds()),
            source=plan.source,
            channels=plan.channels,
            conference_sid=conference_sid,
        )
        self.recordings.append(recording)
        self._store.touch()
        if plan.callback and "completed" in plan.events:
            params = self.recording_params(recording)
            try:
                await self._webhooks.post_signed(plan.callback, params)
            except Exception as error:
                self._store.call(call_sid).notifications.append(f"15003 recording callback failed: {error!r}")
        return recording

    def recording_url(self, recording: FakeRecording) -> str:
        """Where the media is fetched: the fake itself (Twilio's is api.twilio.com), without an extension."""
        return f"http://{self._config.host}:{self._config.port}{recording.uri.removesuffix('.json')}"

    def recording_params(self, recording: FakeRecording) -> dict[str, str]:
        params = {
            "AccountSid": recording.account_sid,
            "CallSid": recording.call_sid,
            "ErrorCode": "0",
            "RecordingChannels": str(recording.channels),
            "RecordingDuration": str(recording.duration),
            "RecordingSid": recording.sid,
            "RecordingSource": recording.source,
            "RecordingStartTime": rfc2822(recording.start_time) or "",
            "RecordingStatus": recording.status,
            "RecordingUrl": self.recording_url(recording),
        }
        if recording.conference_sid:
            params["ConferenceSid"] = recording.conference_sid
        return params

    def recording(self, sid: str) -> FakeRecording | None:
        return next((r for r in self.recordings if r.sid == sid and not r.deleted), None)

    # -- <Dial><Number> ---------------------------------------------------------------------------------------

    async def dial_number(
        self,
        parent: Leg,
        to: str,
        *,
        caller_id: str | None,
        timeout: float,
        time_limit: float,
        status_callback: str | None,
        events: frozenset[str],
        record: RecordingPlan | None,
    ) -> DialResult:
        """A child leg to `to`, bridged to `parent` when it answers, until either side hangs up."""
        child_call = FakeCall(
            sid=new_sid("CA"),
            account_sid=self._config.account_sid,
            to=to,
            from_=caller_id or parent.call.from_,
            status="queued",
            date_created=self.clock.now(),
            status_callback=status_callback,
            status_callback_events=tuple(dict.fromkeys((*sorted(events), "completed"))),
            direction="outbound-dial",
            parent_call_sid=parent.call.sid,
            statuses=["queued"],
        )
        self._store.calls.append(child_call)
        self._store.touch()
        # An unscripted number rings until the test answers it by hand (or the Dial times out).
        child = self.adopt(child_call, self.script_for(to, default=CallScript("rings")) or CallScript("rings"))
        self.clock.spawn(self._child(parent, child, timeout), name=f"dial {child_call.sid}")
        try:
            reason = ""
            while not reason.startswith("dial:"):
                reason = await self.wait(parent)
        except (HungUp, Redirected) as gone:
            self.hang_up(child, by="bridge")
            if isinstance(gone, Redirected):
                raise
            return DialResult("canceled" if not child.answered else "completed", child_call.sid, caller_gone=True)
        if reason != "dial:answered":
            return DialResult(reason.removeprefix("dial:"), child_call.sid)
        if record is not None:
            record.started = self.clock.now()
        caller_gone = False
        try:
            limit = self.clock.elapsed + time_limit
            reason = ""
            while reason not in {"bridge-ended", "timeout"}:
                reason = await self.wait(parent, limit - self.clock.elapsed)
            if reason == "timeout":
                self.hang_up(child, by="bridge")
        except HungUp:
            caller_gone = True
            self.hang_up(child, by="bridge")
        except Redirected:
            self.hang_up(child, by="bridge")
            raise
        finally:
            parent.partner = None
        duration = round((self.clock.now() - (child_call.start_time or self.clock.now())).total_seconds())
        saved = await self.save_recording(parent.call.sid, record) if record is not None else None
        return DialResult("completed", child_call.sid, duration, saved, caller_gone)

    async def _child(self, parent: Leg, child: Leg, timeout: float) -> None:
        outcome = await self.ring(child, timeout)
        if outcome != "answered":
            await self.finish(child, outcome)
            if child.hangup_by != "bridge":
                parent.signal(f"dial:{outcome}")
            return
        await self.answered(child)
        child.partner, parent.partner = parent, child
        parent.signal("dial:answered")
        try:
            while True:
                await self.wait(child)
        except (HungUp, Redirected):
            pass
        child.partner = None
        await self.finish(child, "completed")
        if child.hangup_by != "bridge":
            parent.signal("bridge-ended")

    # -- conferences ----------------------------------------------------------------------------------------

    def conference(self, name_or_sid: str) -> FakeConference | None:
        """The conference with this sid, or the one of this name not yet completed (else the latest of it)."""
        by_sid = next((c for c in self.conferences if c.sid == name_or_sid), None)
        if by_sid is not None:
            return by_sid
        named = [c for c in self.conferences if c.friendly_name == name_or_sid]
        live = [c for c in named if c.status != "completed"]
        found = live or named
        return found[-1] if found else None

    def open_conference(self, name: str) -> FakeConference:
        found = self.conference(name)
        if found is not None and found.status != "completed" and found.friendly_name == name:
            return found
        conference = FakeConference(
            sid=new_sid("CF"),
            account_sid=self._config.account_sid,
            friendly_name=name,
            date_created=self.clock.now(),
        )
        self.conferences.append(conference)
        return conference

    def subscribe(self, conference: FakeConference, callback: str | None, events: list[str]) -> None:
        """The first participant to name a statusCallback sets the conference's (as Twilio does)."""
        if callback and conference.status_callback is None:
            conference.status_callback = callback
            conference.status_callback_events = _events(events, default="start end")

    async def join(self, leg: Leg, conference: FakeConference, participant: FakeParticipant) -> int:
        """`leg` is in `conference` until it ends, the leg is removed, or hangs up (HungUp re-raised after
        leaving). Returns the seconds it spent there."""
        if participant not in conference.participants:
            conference.participants.append(participant)
        participant.status = "connected"
        participant.joined_at = self.clock.elapsed
        participant.date_created = participant.date_created or self.clock.now()
        self._store.touch()
        await self.conference_event(conference, "participant-join", participant)
        if conference.status == "init" and participant.start_conference_on_enter:
            conference.status = "in-progress"
            await self.conference_event(conference, "conference-start")
        joined = self.clock.elapsed
        try:
            while participant.status == "connected":
                reason = await self.wait(leg)
                if reason in {"conference-ended", "kicked"}:
                    break
        except HungUp:
            await self.leave(conference, participant, "participant_hung_up", leg)
            raise
        except Redirected:
            await self.leave(conference, participant, "participant_updated_via_api", leg)
            raise
        if participant.status == "connected":
            await self.leave(conference, participant, "participant_removed_via_api", leg)
        return round(self.clock.elapsed - joined)

    async def leave(
        self, conference: FakeConference, participant: FakeParticipant, reason: str | None, leg: Leg | None
    ) -> None:
        if participant.status == "complete":
            return
        participant.status = "complete"
        if participant in conference.participants:
            conference.participants.remove(participant)
        conference.left.append(participant)
        self._store.touch()
        call_status = "completed" if leg is None or leg.answered else (leg.call.status or "completed")
        extra = {"ParticipantCallStatus": call_status}
        if reason is not None:
            extra["ReasonParticipantLeft"] = reason
        await self.conference_event(conference, "participant-leave", participant, extra)
        if conference.status == "completed":
            return
        if participant.end_conference_on_exit and conference.status == "in-progress":
            await self.end_conference(conference, "participant-with-end-conference-on-exit-left", participant.call_sid)
        elif not conference.participants:
            await self.end_conference(conference, "last-participant-left", participant.call_sid)

    async def end_conference(self, conference: FakeConference, reason: str, ending_call_sid: str | None) -> None:
        """Everyone still in it leaves (participant-leave each), then conference-end."""
        if conference.status == "completed":
            return
        started = conference.status == "in-progress"
        conference.status = "completed"
        conference.reason_ended, conference.call_sid_ending = reason, ending_call_sid
        conference.date_updated = self.clock.now()
        left_reason = "conference_ended_via_api" if reason == "conference-ended-via-API" else reason.replace("-", "_")
        for other in list(conference.participants):
            other_leg = self.legs.get(other.call_sid)
            await self.leave(conference, other, left_reason, other_leg)
            if other_leg is not None:
                other_leg.signal("conference-ended")
        if started:
            extra = {"ReasonConferenceEnded": reason}
            if ending_call_sid:
                extra["CallSidEndingConference"] = ending_call_sid
            await self.conference_event(conference, "conference-end", None, extra)
        self._store.touch()

    async def conference_event(
        self,
        conference: FakeConference,
        event: str,
        participant: FakeParticipant | None = None,
        extra: dict[str, str] | None = None,
    ) -> CallbackResult | None:
        wanted = {CONFERENCE_EVENTS[word] for word in conference.status_callback_events if word in CONFERENCE_EVENTS}
        if not conference.status_callback or event not in wanted:
            return None
        params = {
            "AccountSid": conference.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "SequenceNumber": str(conference.sequence),
            "StatusCallbackEvent": event,
            "Timestamp": rfc2822(self.clock.now()) or "",
        }
        conference.sequence += 1
        if participant is not None:
            params |= {
                "CallSid": participant.call_sid,
                "Coaching": "false",
                "EndConferenceOnExit": _bool(participant.end_conference_on_exit),
                "Hold": _bool(participant.hold),
                "Muted": _bool(participant.muted),
                "StartConferenceOnEnter": _bool(participant.start_conference_on_enter),
            }
            if participant.label:
                params["ParticipantLabel"] = participant.label
        params |= extra or {}
        try:
            return await self._webhooks.post_signed(conference.status_callback, params)
        except Exception as error:
            self.clock.errors.append(f"conference callback {event} failed: {error!r}")
            return None

    def add_participant(self, conference: FakeConference, call: FakeCall, participant: FakeParticipant) -> Leg:
        """A participant added by the API: its phone is called, and when it answers it joins the conference."""
        script = self.script_for(call.to, default=CallScript("rings")) or CallScript("rings")
        leg = self.adopt(call, script)
        conference.participants.append(participant)
        self.clock.spawn(self._participant(leg, conference, participant), name=f"participant {call.sid}")
        return leg

    async def _participant(self, leg: Leg, conference: FakeConference, participant: FakeParticipant) -> None:
        participant.status = "ringing"
        timeout = _seconds(leg.call.form.get("Timeout", [""])[-1], _DEFAULT_TIMEOUT)
        outcome = await self.ring(leg, timeout)
        if outcome != "answered" or conference.status == "completed":
            await self.finish(leg, outcome if outcome != "answered" else "completed")
            # Never joined: still a participant-leave, whose ParticipantCallStatus says why (busy, no-answer…).
            await self.leave(conference, participant, None, leg)
            participant.status = "failed"
            return
        await self.answered(leg)
        with contextlib.suppress(HungUp, Redirected):
            await self.join(leg, conference, participant)
        await self.finish(leg, "completed")

    # -- queues -----------------------------------------------------------------------------------------------

    def queue(self, name_or_sid: str) -> FakeQueue | None:
        return next((q for q in self.queues if name_or_sid in {q.sid, q.friendly_name}), None)

    def open_queue(self, name: str) -> FakeQueue:
        found = self.queue(name)
        if found is None:
            found = FakeQueue(
                sid=new_sid("QU"),
                account_sid=self._config.account_sid,
                friendly_name=name,
                date_created=self.clock.now(),
            )
            self.queues.append(found)
        return found

    def queue_params(self, queue: FakeQueue, call_sid: str, enqueued_at: float) -> dict[str, str]:
        position = next((n for n, m in enumerate(queue.members, 1) if m.call_sid == call_sid), 0)
        return {
            "AvgQueueTime": str(queue.average_wait()),
            "CurrentQueueSize": str(len(queue.members)),
            "QueuePosition": str(position),
            "QueueSid": queue.sid,
            "QueueTime": str(round(self.clock.elapsed - enqueued_at)),
        }


def _manual_outcome(reason: str) -> str:
    """What a ringing phone did by hand (`RingingCall.answer/end`): answered, or a final status."""
    if reason == "answer":
        return "answered"
    if reason.startswith("reject:"):
        return reason.removeprefix("reject:")
    return "answered"


def _seconds(value: str | None, default: float) -> float:
    try:
        return float(value) if value else default
    except ValueError:
        return default


def _events(values: list[str], *, default: str) -> frozenset[str]:
    words = [word for value in values for word in value.replace(",", " ").split()]
    return frozenset(words or default.split())


def _bool(value: bool) -> str:
    return "true" if value else "false"


def absolute(base: str | None, url: str) -> str:
    return urljoin(base or "", url)


class Inbound:
    """Calls that come in to one of our numbers (`FakeTwilio.incoming_call`)."""

    def __init__(self, model: VoiceModel, config: FakeConfig, store: Store) -> None:
        self._model = model
        self._config = config
        self._store = store

    def start(
        self,
        *,
        from_: str,
        to: str,
        url: str | None = None,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> Leg:
        number = self._config.voice_numbers.get(to)
        voice_url = url or (number.voice_url if number is not None else None)
        if not voice_url:
            raise ValueError(f"no voice URL for {to}: set FakeConfig.voice_numbers[{to!r}] or pass url=")
        model = self._model
        call = FakeCall(
            sid=new_sid("CA"),
            account_sid=self._config.account_sid,
            to=to,
            from_=from_,
            status="ringing",
            date_created=model.clock.now(),
            url=voice_url,
            status_callback=number.status_callback if number is not None else None,
            status_callback_events=("completed",),
            direction="inbound",
            statuses=["ringing"],
        )
        self._store.calls.append(call)
        self._store.touch()
        # The caller's own script may hang up after a while (`hang_up_after`); it is already "answered".
        leg = model.adopt(call, model.script_for(from_, default=CallScript("answer", after=0)) or CallScript())
        model.clock.spawn(self._run(leg, voice_url, sign_with, signed), name=f"incoming {call.sid}")
        return leg

    async def _run(self, leg: Leg, url: str, sign_with: str | None, signed: bool) -> None:
        model = self._model
        first = await model.runner.fetch(leg, url, sign_with=sign_with, signed=signed)
        await model.answered(leg)
        if first is not None:
            await model.runner.run_call(leg, url=url, twiml=None, first=first)
        await model.finish(leg, "completed")
