"""The voice side of the fake: a call created from a Calls.json form, its progress, the TwiML it fetches and the
keys a relative presses, each POSTed signed to opaska. Calls the voice model owns (`model.VoiceModel`: scripted
numbers, <Dial>ed legs, incoming calls) are acted out there; `answer_call` and `press` hand such calls to it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urljoin

from simulator.fake_twilio.clock import VoiceClock
from simulator.fake_twilio.config import FakeConfig
from simulator.fake_twilio.errors import TwilioError
from simulator.fake_twilio.records import (
    API_VERSION,
    CALL_EVENT_OF_STATUS,
    CALL_FINAL_STATUSES,
    CALL_STATUSES,
    CallbackResult,
    FakeCall,
    form_value,
    is_e164,
    move_to,
    new_sid,
    rfc2822,
)
from simulator.fake_twilio.store import Store
from simulator.fake_twilio.webhooks import EventSource, WebhookSender, is_http_url

_CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


class Voice(EventSource):
    """Outbound calls, their progress callbacks, the TwiML they fetch and the keys pressed on them."""

    def __init__(self, config: FakeConfig, store: Store, webhooks: WebhookSender) -> None:
        super().__init__(config, store, webhooks)
        # Voice time: the wall clock (`config.now`, read at each use) plus the virtual seconds tests advance.
        self.clock = VoiceClock(lambda: self._config.now())

    def create(self, form: dict[str, list[str]]) -> FakeCall:
        """A new outbound call from the form of a POST to Calls.json, validated as Twilio does."""
        to, from_, url, twiml, callback = (
            form_value(form, name) for name in ("To", "From", "Url", "Twiml", "StatusCallback")
        )
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not is_e164(to) and not to.startswith(("sip:", "client:")):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        if not is_e164(from_):
            raise TwilioError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if self._config.numbers is not None and from_ not in self._config.numbers:
            raise TwilioError(
                400, 21210, f"The source phone number provided, {from_}, is not yet verified for your account."
            )
        if not url and not twiml:
            raise TwilioError(400, 21205, "Url parameter is required.")
        if url and not is_http_url(url):
            raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
        if callback and not is_http_url(callback):
            raise TwilioError(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        recording_callback = form_value(form, "RecordingStatusCallback")
        if recording_callback and not is_http_url(recording_callback):
            raise TwilioError(400, 21609, f"The RecordingStatusCallback URL {recording_callback} is not a valid URL.")
        events = tuple(event for value in form.get("StatusCallbackEvent", []) for event in value.split())
        unknown = set(events) - _CALL_EVENTS
        if unknown:
            raise TwilioError(400, 21626, f"Invalid StatusCallbackEvent: {', '.join(sorted(unknown))}")
        call = FakeCall(
            sid=new_sid("CA"),
            account_sid=self._config.account_sid,
            to=to,
            from_=from_,
            status="queued",
            date_created=self.clock.now(),
            url=url or None,
            twiml=twiml or None,
            status_callback=callback or None,
            # Twilio always sends `completed`; the other events only when asked for.
            status_callback_events=tuple(dict.fromkeys((*events, "completed"))),
            form=form,
            statuses=["queued"],
        )
        self._store.calls.append(call)
        return call

    async def call_status(
        self, sid: str, status: str, *, sign_with: str | None = None, signed: bool = True
    ) -> CallbackResult | None:
        """Move a call to `status`; POST its StatusCallback if the call subscribed to that event (Twilio sends
        only the events in StatusCallbackEvent, by default just `completed`)."""
        if status not in CALL_STATUSES:
            raise ValueError(f"unknown call status {status!r}")
        call = self._store.call(sid)
        moment = self.clock.now()
        move_to(call, status, moment)
        if status == "in-progress" and call.start_time is None:
            call.start_time = moment
        if status in CALL_FINAL_STATUSES:
            call.end_time = moment
        self._store.touch()
        event = CALL_EVENT_OF_STATUS.get(status)
        if not call.status_callback or event not in call.status_callback_events:
            return None
        params = call_params(call) | {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.callbacks_sent),
            "Timestamp": rfc2822(moment) or "",
        }
        if status in CALL_FINAL_STATUSES:
            params["CallDuration"] = str(call.duration or 0)
            params["Duration"] = str(-(-(call.duration or 0) // 60))
        call.callbacks_sent += 1
        return await self._webhooks.post_signed(call.status_callback, params, sign_with=sign_with, signed=signed)

    async def answer_call(self, sid: str, *, sign_with: str | None = None) -> str:
        """The callee picks up: initiated/ringing/in-progress callbacks (those subscribed), then Twilio fetches the
        call's TwiML — POSTed, signed, to its Url (or the inline Twiml). Returns the TwiML."""
        call = self._store.call(sid)
        for status in ("initiated", "ringing", "in-progress"):
            if status not in call.statuses:
                await self.call_status(sid, status, sign_with=sign_with)
        if call.twiml is not None:
            call.last_twiml, call.last_twiml_url = call.twiml, None
        else:
            assert call.url is not None
            result = await self._webhooks.post_signed(call.url, call_params(call), sign_with=sign_with)
            call.last_twiml, call.last_twiml_url = result.text, call.url
        self._store.touch()
        return call.last_twiml

    async def press(
        self, sid: str, digits: str, *, sign_with: str | None = None, signed: bool = True
    ) -> CallbackResult:
        """Key presses on an answered call: POSTed to the action of the <Gather> in the TwiML opaska last gave
        (relative to the URL that TwiML came from; no action means that URL itself, as Twilio does)."""
        call = self._store.call(sid)
        if call.last_twiml is None:
            await self.answer_call(sid, sign_with=sign_with)
        assert call.last_twiml is not None
        action = gather_action(call.last_twiml)
        if action is None:
            raise ValueError(f"no <Gather> in the TwiML of {sid}: {call.last_twiml!r}")
        base = call.last_twiml_url or call.url or ""
        url = urljoin(base, action) if action else base
        result = await self.gather(url, call_sid=sid, digits=digits, sign_with=sign_with, signed=signed)
        call.last_twiml, call.last_twiml_url = result.text, url
        return result

    async def gather(
        self,
        url: str,
        *,
        call_sid: str,
        digits: str,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> CallbackResult:
        """A <Gather> result POSTed to a given action URL (`Digits`, and the call's parameters)."""
        try:
            call: FakeCall | None = self._store.call(call_sid)
        except StopIteration:
            call = None
        params = (
            call_params(call)
            if call is not None
            else {"AccountSid": self._config.account_sid, "ApiVersion": API_VERSION, "CallSid": call_sid}
        )
        params |= {"CallStatus": "in-progress", "Digits": digits, "FinishedOnKey": "", "msg": "Gather End"}
        if call is not None:
            call.digits.append(digits)
        return await self._webhooks.post_signed(url, params, sign_with=sign_with, signed=signed)


def call_params(call: FakeCall) -> dict[str, str]:
    """The parameters Twilio sends with every webhook about a call (ParentCallSid for a <Dial>ed leg)."""
    params = {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": call.status,
        "Called": call.to,
        "Caller": call.from_,
        "Direction": call.direction,
        "From": call.from_,
        "To": call.to,
    }
    if call.parent_call_sid:
        params["ParentCallSid"] = call.parent_call_sid
    return params


def gather_action(twiml: str) -> str | None:
    """The `action` of the first <Gather> in a TwiML document ("" when it has none), or None without a Gather."""
    root = ET.fromstring(twiml)  # noqa: S314 - TwiML from the opaska under test on this machine
    for element in root.iter():
        if element.tag == "Gather":
            return element.get("action", "")
    return None
