"""Control endpoints for demos (curl against /_fake/…), unauthenticated: the fake binds to loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from aiohttp import web

from simulator.fake_twilio.config import Outcome
from simulator.fake_twilio.faults import FaultQueue
from simulator.fake_twilio.messaging import Messaging
from simulator.fake_twilio.records import CallbackResult
from simulator.fake_twilio.store import Store
from simulator.fake_twilio.voice import Voice

if TYPE_CHECKING:
    from simulator.fake_twilio.server import FakeTwilio


class ControlApi:
    """GET /_fake/state shows what was sent; POST /_fake/{action} acts a relative's part or queues a fault."""

    def __init__(self, fake: FakeTwilio, store: Store, faults: FaultQueue, messaging: Messaging, voice: Voice) -> None:
        self._fake = fake
        self._store = store
        self._faults = faults
        self._messaging = messaging
        self._voice = voice

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/_fake/state", self._state)
        router.add_post("/_fake/{action}", self._act)

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "messages": [m.to_json() for m in self._store.messages],
                "calls": [c.to_json() | {"url": c.url, "digits": c.digits} for c in self._store.calls],
                "callbacks": [{"url": c.url, "status": c.status} for c in self._store.callbacks],
                "pending_faults": self._faults.pending,
                "conferences": [
                    c.to_json() | {"call_sids": c.call_sids, "numbers": c.numbers} for c in self._fake.conferences
                ],
                "queues": [q.to_json() | {"call_sids": q.call_sids} for q in self._fake.queues],
                "recordings": [r.to_json() for r in self._fake.recordings if not r.deleted],
                "scripts": {n: vars(s) for n, s in self._fake.scripts.items()},
                "voice_time": self._fake.model.clock.elapsed,
            }
        )

    async def _act(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        action = request.match_info["action"]
        result: CallbackResult | None
        try:
            if action == "reply":
                result = await self._messaging.reply_sms(from_=form["From"], body=form["Body"], to=form.get("To"))
            elif action == "press":
                result = await self._fake.press(form["CallSid"], form["Digits"])
            elif action == "answer":
                return web.Response(text=await self._fake.answer_call(form["CallSid"]), content_type="text/xml")
            elif action == "script":
                # Number, Outcome (answer|busy|no-answer|failed|rings), After, HangUpAfter, Digits (comma-separated)
                hang_up_after = form.get("HangUpAfter")
                self._fake.phone(form["Number"]).script(
                    cast(Outcome, form.get("Outcome", "answer")),
                    after=float(form.get("After", "2")),
                    hang_up_after=float(hang_up_after) if hang_up_after else None,
                    digits=[d for d in form.get("Digits", "").split(",") if d],
                )
                result = None
            elif action == "advance":
                await self._fake.advance(float(form.get("Seconds", "1")))
                result = None
            elif action == "incoming-call":
                ringing = await self._fake.incoming_call(from_=form["From"], to=form.get("To"), url=form.get("Url"))
                return web.json_response({"call": ringing.call.to_json()})
            elif action == "hang-up":
                await self._fake.hang_up(form["CallSid"], status=form.get("Status"))
                result = None
            elif action == "message-status":
                result = await self._messaging.message_status(form["Sid"], form["Status"])
            elif action == "call-status":
                result = await self._voice.call_status(form["Sid"], form["Status"])
            elif action == "fault":
                self._queue_fault(form)
                result = None
            else:
                return web.json_response({"error": f"unknown action {action}"}, status=404)
        except (KeyError, ValueError, StopIteration) as error:
            return web.json_response({"error": repr(error)}, status=400)
        body = None if result is None else {"url": result.url, "status": result.status, "text": result.text}
        return web.json_response({"callback": body})

    def _queue_fault(self, form: dict[str, str]) -> None:
        count, kind = int(form.get("Count", "1")), form.get("Kind", "error")
        if kind == "error":
            self._faults.fail_next(count, status=int(form.get("Status", "500")))
        elif kind == "hang":
            self._faults.hang_next(count, seconds=float(form.get("Seconds", "30")), created=form.get("Created") == "1")
        else:
            self._faults.lose_next(count, lost_as="drop" if form.get("LostAs") == "drop" else "500")
