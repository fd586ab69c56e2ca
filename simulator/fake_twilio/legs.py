"""One call as the voice model acts it out (a *leg*): its phone's script, what it waits for, whom it talks to.

A leg's task waits on the voice clock (`VoiceModel.wait`); others reach it by `signal(reason)`: "hangup", "answer",
"redirect", "dequeued", "bridge-ended", "conference-ended", "digits", "dial:<status>", "queue-member". Hang-ups
and redirects raise out of the wait, so each verb cleans up (leaves its conference, its queue, its bridge) in a
`finally` or `except`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from simulator.fake_twilio.clock import Waiter
from simulator.fake_twilio.config import CallScript
from simulator.fake_twilio.records import CallbackResult, FakeCall


class HungUp(Exception):
    """The leg's call has ended: its own side hung up, the API ended it, or the TwiML did."""


class Redirected(Exception):
    """The call was sent new TwiML (Calls API `Url`/`Twiml`): whatever it was doing stops."""

    def __init__(self, url: str | None, twiml: str | None) -> None:
        super().__init__(url or twiml)
        self.url = url
        self.twiml = twiml


@dataclass
class RecordingPlan:
    """A recording asked for (Calls API `Record`, <Dial record>), running from `started` while the call talks."""

    callback: str | None
    events: frozenset[str]
    source: str
    channels: int
    started: datetime | None = None


@dataclass
class Leg:
    call: FakeCall
    script: CallScript
    waiter: Waiter | None = None
    pending: list[str] = field(default_factory=list)
    hangup_by: str | None = None  # callee, caller, api, twiml, bridge (the other side of a <Dial> left)
    redirect_to: tuple[str | None, str | None] | None = None
    partner: Leg | None = None  # the leg it is bridged to by <Dial><Number> or <Dial><Queue>
    digits: list[str] = field(default_factory=list)  # keys still to press at <Gather>s
    pressed: str | None = None  # keys pressed by hand, waiting for the Gather to take them
    press_result: CallbackResult | None = None
    record: RecordingPlan | None = None
    answered: bool = False
    finished: bool = False

    def signal(self, reason: str) -> None:
        if reason == "hangup" and self.hangup_by is None:
            self.hangup_by = "caller"
        if self.waiter is not None and not self.waiter.done:
            self.waiter.fire(reason)
        else:
            self.pending.append(reason)

    @property
    def far_number(self) -> str:
        """The number at the other end of this call from Twilio's side: who called in, or who was called."""
        return self.call.from_ if self.call.direction == "inbound" else self.call.to
