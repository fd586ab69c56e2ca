"""A relative's phone on the fake Twilio, so scenario tests read like a story:

relative = fake.phone("+48600000001")
sms = await relative.expect_sms("SOS")
await sms.reply("TAK")
call = await relative.expect_call()
await call.press("1")

operator = fake.phone("+48600000009").script("answer", after=3)   # how it treats calls (voice model)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from simulator.fake_twilio.config import OUTCOMES, CallScript, FakeConfig, Outcome
from simulator.fake_twilio.records import CallbackResult, FakeCall, FakeMessage


class PhoneLine(Protocol):
    """What a phone needs of the fake Twilio (`FakeTwilio` is one): what reached it, and its part to act."""

    def sent_to(self, number: str) -> list[FakeMessage]: ...

    def calls_to(self, number: str) -> list[FakeCall]: ...

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float = 2.0) -> None: ...

    async def message_status(
        self, sid: str, status: str, *, error_code: int | None = None
    ) -> CallbackResult | None: ...

    async def reply_sms(
        self, *, from_: str, body: str, to: str | None = None, sign_with: str | None = None
    ) -> CallbackResult: ...

    async def call_status(self, sid: str, status: str) -> CallbackResult | None: ...

    async def answer_call(self, sid: str) -> str: ...

    async def press(self, sid: str, digits: str, *, sign_with: str | None = None) -> CallbackResult: ...

    async def hang_up(self, sid: str, *, status: str | None = None) -> None: ...

    async def advance(self, seconds: float, *, timeout: float = 5.0) -> None: ...

    @property
    def config(self) -> FakeConfig: ...


@dataclass
class ReceivedSms:
    phone: Phone
    message: FakeMessage

    @property
    def body(self) -> str:
        return self.message.body

    async def deliver(self) -> None:
        """sent, then delivered: the status callbacks a delivered SMS produces."""
        await self.phone.fake.message_status(self.message.sid, "sent")
        await self.phone.fake.message_status(self.message.sid, "delivered")

    async def fail(self, status: str = "undelivered", *, error_code: int = 30003) -> CallbackResult | None:
        return await self.phone.fake.message_status(self.message.sid, status, error_code=error_code)

    async def progress(self, *statuses: str, error_code: int = 30003) -> list[CallbackResult | None]:
        """Twilio's status callbacks for this SMS, one per status in the order given (e.g. "sent",
        "undelivered"); `error_code` goes with failed and undelivered ones."""
        return [
            await self.phone.fake.message_status(self.message.sid, status, error_code=error_code) for status in statuses
        ]

    async def reply(self, body: str, *, sign_with: str | None = None) -> CallbackResult:
        """Answer to the number this SMS came from."""
        return await self.phone.fake.reply_sms(
            from_=self.phone.number, to=self.message.from_ or None, body=body, sign_with=sign_with
        )


@dataclass
class RingingCall:
    phone: Phone
    call: FakeCall

    async def answer(self) -> str:
        """Pick up; returns the TwiML opaska answered with."""
        return await self.phone.fake.answer_call(self.call.sid)

    async def press(self, digits: str, *, sign_with: str | None = None) -> CallbackResult:
        """Press keys (answering first if need be); the result carries opaska's next TwiML."""
        return await self.phone.fake.press(self.call.sid, digits, sign_with=sign_with)

    async def ring(self) -> CallbackResult | None:
        """The phone rings and nobody has picked up yet: the initiated and ringing callbacks."""
        result = None
        for step in ("initiated", "ringing"):
            if step not in self.call.statuses:
                result = await self.phone.fake.call_status(self.call.sid, step)
        return result

    async def hang_up(self) -> None:
        """This phone hangs up (a modelled call: its conference, queue or bridge hears it; an incoming call
        waiting in a queue leaves it, QueueResult=hangup)."""
        await self.phone.fake.hang_up(self.call.sid)

    async def advance(self, seconds: float) -> None:
        """Let `seconds` of voice time pass (for every call: time is the fake's)."""
        await self.phone.fake.advance(seconds)

    @property
    def heard(self) -> list[str]:
        """What this phone was played: "say: …", "play: …", "pause: N"."""
        return self.call.heard

    async def end(self, status: str = "completed") -> CallbackResult | None:
        """Hang up (`completed`) or never pick up (`no-answer`, `busy`, `failed`)."""
        if self.call.modelled:
            await self.phone.fake.hang_up(self.call.sid, status=status)
            return None
        if status == "completed" and "in-progress" not in self.call.statuses:
            await self.answer()
        elif status != "completed":
            for step in ("initiated", "ringing"):
                if step not in self.call.statuses:
                    await self.phone.fake.call_status(self.call.sid, step)
        return await self.phone.fake.call_status(self.call.sid, status)


@dataclass
class Phone:
    fake: PhoneLine
    number: str
    _seen: set[str] = field(default_factory=set)

    async def expect_sms(self, containing: str = "", *, timeout: float = 2.0) -> ReceivedSms:
        """The next SMS to this phone not seen before whose body contains `containing`."""
        found: list[FakeMessage] = []

        def arrived() -> bool:
            found[:] = [m for m in self.fake.sent_to(self.number) if m.sid not in self._seen and containing in m.body]
            return bool(found)

        await self.fake.wait_for(arrived, timeout=timeout)
        self._seen.add(found[0].sid)
        return ReceivedSms(self, found[0])

    async def expect_call(self, *, timeout: float = 2.0) -> RingingCall:
        """The next call to this phone not seen before."""
        found: list[FakeCall] = []

        def ringing() -> bool:
            found[:] = [c for c in self.fake.calls_to(self.number) if c.sid not in self._seen]
            return bool(found)

        await self.fake.wait_for(ringing, timeout=timeout)
        self._seen.add(found[0].sid)
        return RingingCall(self, found[0])

    def script(
        self,
        outcome: Outcome = "answer",
        *,
        after: float = 2.0,
        hang_up_after: float | None = None,
        digits: list[str] | None = None,
    ) -> Phone:
        """How this phone treats calls from now on (the voice model acts them out): "answer" after `after` s
        of ringing (then hangs up after `hang_up_after` s, if given, and presses `digits` at each <Gather>),
        "busy" (after `after` s), "no-answer" (rings until the caller's timeout), "failed" (unreachable), or
        "rings" (until the test answers it: `RingingCall.answer()`)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; one of {sorted(OUTCOMES)}")
        self.fake.config.scripts[self.number] = CallScript(outcome, after, hang_up_after, list(digits or []))
        return self

    def unscripted(self) -> Phone:
        """Back to calls driven by hand."""
        self.fake.config.scripts.pop(self.number, None)
        return self

    def unseen(self) -> list[str]:
        """Sids of messages and calls to this phone that no `expect_*` has taken (a test ends with none)."""
        sids = [m.sid for m in self.fake.sent_to(self.number)] + [c.sid for c in self.fake.calls_to(self.number)]
        return [sid for sid in sids if sid not in self._seen]

    async def reply(self, body: str, *, sign_with: str | None = None) -> CallbackResult:
        return await self.fake.reply_sms(from_=self.number, body=body, sign_with=sign_with)
