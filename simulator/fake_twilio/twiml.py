"""TwiML acted out by the voice model, verb by verb, as Twilio does.

Supported: <Say>, <Play>, <Pause length>, <Hangup>, <Reject reason>, <Redirect>, <Gather action numDigits
timeout> (keys from the phone's script or pressed by hand), <Dial action timeout timeLimit callerId record
recordingStatusCallback> with one <Number>/<Sip>/<Client> (or a bare number), <Conference> or <Queue url>,
<Enqueue action waitUrl> (with <Leave> in its wait TwiML). Say and Play take no voice time; Pause takes its
length. A Url that fails or answers something that is not TwiML ends the call, as Twilio's "application error"
does, and is noted on the call (`FakeCall.notifications`, codes 11200/12100).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from simulator.fake_twilio.config import FakeConfig
from simulator.fake_twilio.legs import HungUp, Leg, RecordingPlan, Redirected
from simulator.fake_twilio.model import DialResult, VoiceModel, _events, _seconds, absolute
from simulator.fake_twilio.records import FakeCall
from simulator.fake_twilio.rooms import FakeParticipant, QueueMember
from simulator.fake_twilio.voice import call_params
from simulator.fake_twilio.webhooks import WebhookSender

_LEAVES_QUEUE = frozenset({"dequeued"})
_RECORD_MODES = {"record-from-answer", "record-from-ringing", "record-from-answer-dual", "record-from-ringing-dual"}


class Document:
    """A TwiML document and the URL it came from (relative URLs in it resolve against that)."""

    def __init__(self, root: ET.Element, url: str | None) -> None:
        self.root = root
        self.url = url

    def verbs(self) -> Iterator[ET.Element]:
        return iter(list(self.root))


class TwimlRunner:
    def __init__(self, model: VoiceModel, config: FakeConfig, webhooks: WebhookSender) -> None:
        self._model = model
        self._config = config
        self._webhooks = webhooks

    # -- fetching -------------------------------------------------------------------------------------------

    async def fetch(
        self,
        leg: Leg,
        url: str,
        extra: dict[str, str] | None = None,
        *,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> Document | None:
        """POST the call's parameters (and `extra`) signed to `url`; the TwiML it answers, or None (noted)."""
        call = leg.call
        params = call_params(call) | (extra or {})
        try:
            result = await self._webhooks.post_signed(url, params, sign_with=sign_with, signed=signed)
        except Exception as error:
            call.notifications.append(f"11200 HTTP retrieval failure: {url}: {error!r}")
            return None
        if result.status != 200:
            call.notifications.append(f"11200 HTTP retrieval failure: {url} answered {result.status}")
            return None
        return self.parse(call, result.text, url)

    def parse(self, call: FakeCall, text: str, url: str | None) -> Document | None:
        try:
            root = ET.fromstring(text)  # noqa: S314 - TwiML from the opaska under test on this machine
        except ET.ParseError as error:
            call.notifications.append(f"12100 Document parse failure: {url}: {error}")
            return None
        if root.tag != "Response":
            call.notifications.append(f"12100 Document parse failure: {url}: root <{root.tag}>")
            return None
        call.last_twiml, call.last_twiml_url = text, url
        return Document(root, url)

    # -- a whole call -----------------------------------------------------------------------------------------

    async def run_call(
        self,
        leg: Leg,
        *,
        url: str | None,
        twiml: str | None,
        first: Document | None = None,
    ) -> None:
        """Follow the call's TwiML (and every redirect) until it ends or is hung up."""
        document = first
        if document is None:
            document = self.parse(leg.call, twiml, None) if twiml else await self.fetch(leg, url or "")
        while document is not None:
            try:
                document = await self.run(leg, document)
            except HungUp:
                return
            except Redirected as moved:
                if moved.twiml:
                    document = self.parse(leg.call, moved.twiml, None)
                else:
                    document = await self.fetch(leg, moved.url or "")

    async def run(self, leg: Leg, document: Document) -> Document | None:
        """Act out `document`; returns the next document (from an action or <Redirect>), or None at its end."""
        for verb in document.verbs():
            tag = verb.tag
            if tag == "Say":
                leg.call.heard.append(f"say: {(verb.text or '').strip()}")
            elif tag == "Play":
                leg.call.heard.append(f"play: {(verb.text or '').strip()}")
            elif tag == "Pause":
                await self._pause(leg, _seconds(verb.get("length"), 1.0))
            elif tag == "Hangup":
                self._model.hang_up(leg, by="twiml")
                raise HungUp
            elif tag == "Reject":
                leg.hangup_by = "twiml"
                leg.call.heard.append(f"reject: {verb.get('reason', 'rejected')}")
                raise HungUp
            elif tag == "Redirect":
                return await self.fetch(leg, absolute(document.url, (verb.text or "").strip()))
            elif tag == "Gather":
                following = await self._gather(leg, verb, document)
                if following is not None:
                    return following
            elif tag == "Dial":
                following = await self._dial(leg, verb, document)
                if following is not None:
                    return following
            elif tag == "Enqueue":
                following = await self._enqueue(leg, verb, document)
                if following is not None:
                    return following
            elif tag == "Leave":
                continue  # only means something in an Enqueue's wait TwiML
            else:
                leg.call.notifications.append(f"12200 Schema validation warning: <{tag}> is not acted out")
        return None

    async def _pause(self, leg: Leg, seconds: float, *, stop_on: frozenset[str] = frozenset()) -> str:
        """Silence for `seconds` ("timeout"), or until a signal in `stop_on` (returned); others are ignored."""
        leg.call.heard.append(f"pause: {seconds:g}")
        clock = self._model.clock
        end = clock.elapsed + seconds
        while clock.elapsed < end:
            reason = await self._model.wait(leg, end - clock.elapsed)
            if reason == "timeout":
                break
            if reason in stop_on:
                return reason
        return "timeout"

    # -- <Gather> -------------------------------------------------------------------------------------------

    async def _gather(self, leg: Leg, verb: ET.Element, document: Document) -> Document | None:
        for child in verb:
            if child.tag == "Say":
                leg.call.heard.append(f"say: {(child.text or '').strip()}")
            elif child.tag == "Play":
                leg.call.heard.append(f"play: {(child.text or '').strip()}")
        digits: str | None = leg.digits.pop(0) if leg.digits else None
        if digits is None and leg.pressed is None:
            clock = self._model.clock
            end = clock.elapsed + _seconds(verb.get("timeout"), 5.0)
            while await self._model.wait(leg, end - clock.elapsed) not in {"timeout", "digits"}:
                pass
        if digits is None:
            digits, leg.pressed = leg.pressed, None
        if digits is None:
            return None  # no input: on to the next verb
        url = absolute(document.url, verb.get("action", "")) if verb.get("action") else (document.url or "")
        params = call_params(leg.call) | {"Digits": digits, "FinishedOnKey": "", "msg": "Gather End"}
        params["CallStatus"] = "in-progress"
        leg.call.digits.append(digits)
        try:
            result = await self._webhooks.post_signed(url, params)
        except Exception as error:
            leg.call.notifications.append(f"11200 HTTP retrieval failure: {url}: {error!r}")
            raise HungUp from None
        leg.press_result = result
        if result.status != 200:
            leg.call.notifications.append(f"11200 HTTP retrieval failure: {url} answered {result.status}")
            raise HungUp
        return self.parse(leg.call, result.text, url) or _hang_up()

    # -- <Dial> ---------------------------------------------------------------------------------------------

    async def _dial(self, leg: Leg, verb: ET.Element, document: Document) -> Document | None:
        nouns = [child for child in verb if child.tag in {"Number", "Sip", "Client", "Conference", "Queue"}]
        noun_tag = nouns[0].tag if nouns else "Number"
        target = ((nouns[0].text if nouns else verb.text) or "").strip()
        timeout = _seconds(verb.get("timeout"), 30.0)
        record_mode = verb.get("record", "do-not-record")
        record = None
        if record_mode in _RECORD_MODES or record_mode == "true":
            callback = verb.get("recordingStatusCallback")
            record = RecordingPlan(
                callback=absolute(document.url, callback) if callback else None,
                events=_events([verb.get("recordingStatusCallbackEvent", "")], default="completed"),
                source="DialVerb",
                channels=2 if record_mode.endswith("dual") else 1,
            )
        if noun_tag == "Conference":
            result = await self._conference(leg, nouns[0], target, document, record)
        elif noun_tag == "Queue":
            result = await self._dequeue(leg, nouns[0], target, timeout, document)
        else:
            noun = nouns[0] if nouns else verb
            callback = noun.get("statusCallback")
            if noun_tag == "Client" and not target.startswith("client:"):
                target = f"client:{target}"
            result = await self._model.dial_number(
                leg,
                target,
                caller_id=verb.get("callerId"),
                timeout=timeout,
                time_limit=_seconds(verb.get("timeLimit"), 14400.0),
                status_callback=absolute(document.url, callback) if callback else None,
                events=_events([noun.get("statusCallbackEvent", "")], default="completed"),
                record=record,
            )
        action = verb.get("action")
        following = None
        if action:
            params = {"DialCallStatus": result.status, "DialCallDuration": str(result.duration)}
            if result.call_sid:
                params["DialCallSid"] = result.call_sid
            if result.recording is not None:
                params |= {
                    "RecordingSid": result.recording.sid,
                    "RecordingUrl": self._model.recording_url(result.recording),
                    "RecordingDuration": str(result.recording.duration),
                }
            following = await self.fetch(leg, absolute(document.url, action), params)
            if following is None and not result.caller_gone:
                raise HungUp
        if result.caller_gone:
            raise HungUp
        return following

    async def _conference(
        self, leg: Leg, noun: ET.Element, name: str, document: Document, record: RecordingPlan | None
    ) -> DialResult:
        model = self._model
        conference = model.open_conference(name)
        callback = noun.get("statusCallback")
        model.subscribe(
            conference, absolute(document.url, callback) if callback else None, [noun.get("statusCallbackEvent", "")]
        )
        participant = FakeParticipant(
            call_sid=leg.call.sid,
            number=leg.far_number,
            label=noun.get("participantLabel"),
            start_conference_on_enter=noun.get("startConferenceOnEnter", "true").lower() != "false",
            end_conference_on_exit=noun.get("endConferenceOnExit", "false").lower() == "true",
            muted=noun.get("muted", "false").lower() == "true",
        )
        if record is not None:
            record.started = model.clock.now()
        joined = model.clock.elapsed
        gone = False
        try:
            await model.join(leg, conference, participant)
        except HungUp:
            gone = True
        saved = None
        if record is not None:
            saved = await model.save_recording(leg.call.sid, record, conference_sid=conference.sid)
        return DialResult("completed", None, round(model.clock.elapsed - joined), saved, caller_gone=gone)

    # -- queues -----------------------------------------------------------------------------------------------

    async def _enqueue(self, leg: Leg, verb: ET.Element, document: Document) -> Document | None:
        model = self._model
        queue = model.open_queue((verb.text or "").strip())
        member = QueueMember(leg.call.sid, leg.far_number, model.clock.elapsed, model.clock.now())
        queue.members.append(member)
        model.touch()
        for waiting in list(model.dequeuers.get(queue.sid, [])):
            waiting.signal("queue-member")
        wait_url = verb.get("waitUrl")
        result = None
        gone = False
        try:
            while result is None:
                before = model.clock.elapsed
                if wait_url:
                    result = await self._wait_music(leg, absolute(document.url, wait_url), queue.sid, member)
                if result is None and model.clock.elapsed == before:
                    result = await model.wait(leg)
                if result not in {None, "dequeued", "leave"}:
                    result = None  # a signal that means nothing in a queue
        except HungUp:
            result, gone = "hangup", True
        except Redirected:
            self._left_queue(queue.sid, member)
            await self._queue_action(leg, verb, document, queue.sid, member, "redirected")
            raise
        waited = self._left_queue(queue.sid, member)
        if result == "dequeued":
            partner = leg.partner
            try:
                while True:
                    if await model.wait(leg) == "bridge-ended":
                        break
            except HungUp:
                gone = True
                if partner is not None:
                    partner.signal("bridge-ended")
            except Redirected:
                if partner is not None:
                    partner.signal("bridge-ended")
                raise
            leg.partner = None
            result = "bridged"
        params = {"QueueResult": result, "QueueSid": queue.sid, "QueueTime": str(round(waited))}
        action = verb.get("action")
        following = None
        if action:
            following = await self.fetch(leg, absolute(document.url, action), params)
        if gone:
            raise HungUp
        return following

    def _left_queue(self, queue_sid: str, member: QueueMember) -> float:
        queue = self._model.queue(queue_sid)
        waited = self._model.clock.elapsed - member.enqueued_at
        if queue is not None and member in queue.members:
            queue.members.remove(member)
            queue.waits.append(waited)
            self._model.touch()
        return waited if member.left_at is None else member.left_at - member.enqueued_at

    async def _wait_music(self, leg: Leg, url: str, queue_sid: str, member: QueueMember) -> str | None:
        """One round of the Enqueue's waitUrl TwiML: None when it ran out, "leave", or the signal that ended it."""
        queue = self._model.queue(queue_sid)
        assert queue is not None
        document = await self.fetch(leg, url, self._model.queue_params(queue, leg.call.sid, member.enqueued_at))
        while document is not None:
            redirected = None
            for verb in document.verbs():
                if verb.tag in {"Say", "Play"}:
                    leg.call.heard.append(f"{verb.tag.lower()}: {(verb.text or '').strip()}")
                elif verb.tag == "Pause":
                    reason = await self._pause(leg, _seconds(verb.get("length"), 1.0), stop_on=_LEAVES_QUEUE)
                    if reason != "timeout":
                        return reason
                elif verb.tag == "Leave":
                    return "leave"
                elif verb.tag == "Hangup":
                    self._model.hang_up(leg, by="twiml")
                    raise HungUp
                elif verb.tag == "Redirect":
                    redirected = absolute(document.url, (verb.text or "").strip())
                    break
            if redirected is None:
                return None
            document = await self.fetch(
                leg, redirected, self._model.queue_params(queue, leg.call.sid, member.enqueued_at)
            )
        return None

    async def _queue_action(
        self, leg: Leg, verb: ET.Element, document: Document, queue_sid: str, member: QueueMember, result: str
    ) -> None:
        action = verb.get("action")
        if action:
            waited = self._model.clock.elapsed - member.enqueued_at
            params = {"QueueResult": result, "QueueSid": queue_sid, "QueueTime": str(round(waited))}
            await self.fetch(leg, absolute(document.url, action), params)

    async def _dequeue(self, leg: Leg, noun: ET.Element, name: str, timeout: float, document: Document) -> DialResult:
        """<Dial><Queue>: bridge the first caller waiting in `name` (waiting up to `timeout` for one)."""
        model = self._model
        queue = model.queue(name)
        if queue is None:
            return DialResult("failed")
        if not queue.members:
            model.dequeuers.setdefault(queue.sid, []).append(leg)
            try:
                reason = await model.wait(leg, timeout)
            except HungUp:
                return DialResult("canceled", caller_gone=True)
            finally:
                model.dequeuers[queue.sid].remove(leg)
            if reason == "timeout" or not queue.members:
                return DialResult("no-answer")
        member = queue.members[0]
        member.left_at = model.clock.elapsed
        self._left_queue(queue.sid, member)
        caller = model.leg(member.call_sid)
        assert caller is not None
        url = noun.get("url")
        if url:
            params = {
                "QueueSid": queue.sid,
                "QueueTime": str(round(member.left_at - member.enqueued_at)),
                "DequeingCallSid": leg.call.sid,
            }
            announcement = await self.fetch(caller, absolute(document.url, url), params)
            for verb in announcement.verbs() if announcement is not None else []:
                if verb.tag in {"Say", "Play"}:
                    caller.call.heard.append(f"{verb.tag.lower()}: {(verb.text or '').strip()}")
        caller.partner, leg.partner = leg, caller
        caller.signal("dequeued")
        bridged_at = model.clock.elapsed
        gone = False
        try:
            while True:
                if await model.wait(leg) == "bridge-ended":
                    break
        except HungUp:
            gone = True
            caller.signal("bridge-ended")
        except Redirected:
            caller.signal("bridge-ended")
            raise
        leg.partner = None
        return DialResult("completed", caller.call.sid, round(model.clock.elapsed - bridged_at), caller_gone=gone)


def _hang_up() -> Document | None:
    raise HungUp
