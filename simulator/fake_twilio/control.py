"""Control endpoints for demos (curl against /_fake/…), unauthenticated: the fake binds to loopback."""

from __future__ import annotations

from aiohttp import web

from simulator.fake_twilio.faults import FaultQueue
from simulator.fake_twilio.messaging import Messaging
from simulator.fake_twilio.records import CallbackResult
from simulator.fake_twilio.store import Store
from simulator.fake_twilio.voice import Voice


class ControlApi:
    """GET /_fake/state shows what was sent; POST /_fake/{action} acts a relative's part or queues a fault."""

    def __init__(self, store: Store, faults: FaultQueue, messaging: Messaging, voice: Voice) -> None:
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
                result = await self._voice.press(form["CallSid"], form["Digits"])
            elif action == "answer":
                return web.Response(text=await self._voice.answer_call(form["CallSid"]), content_type="text/xml")
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
