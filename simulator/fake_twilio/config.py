"""How a fake Twilio is set up: its account, its numbers, where its webhooks go and what it plays by itself.

One `FakeConfig` is shared by every part of the fake, so a test that changes a setting on a running fake
(`fake.list_lag_s = 5`, `fake.url_map[PUBLIC] = …`) changes it for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

DEFAULT_ACCOUNT_SID = "AC" + "0f" * 16
DEFAULT_AUTH_TOKEN = "fa4e" * 8
DEFAULT_NUMBER = "+48221234567"
Resource = Literal["messages", "calls"]
# How a scripted phone treats a call: picks up (after `after` s), is busy, never answers, cannot be reached,
# or rings until the test answers it by hand (`RingingCall.answer()`).
Outcome = Literal["answer", "busy", "no-answer", "failed", "rings"]
OUTCOMES: frozenset[str] = frozenset({"answer", "busy", "no-answer", "failed", "rings"})


@dataclass
class CallScript:
    """How the phone at one number behaves when the fake calls it (see `Phone.script`).

    `after`: seconds of ringing before it answers (or before "busy" comes back); `hang_up_after`: seconds after
    answering when the callee hangs up (None: it stays until the other side or the TwiML ends the call);
    `digits`: keys it presses at each <Gather>, one entry per Gather, in order.
    """

    outcome: Outcome = "answer"
    after: float = 2.0
    hang_up_after: float | None = None
    digits: list[str] = field(default_factory=list)


@dataclass
class VoiceNumber:
    """One of our Twilio numbers as its console page sets it: "A call comes in" (`voice_url`, POSTed) and the
    "Call status changes" URL (`status_callback`, sent the `completed` event of each inbound call)."""

    voice_url: str
    status_callback: str | None = None


@dataclass
class AutoPlay:
    """Status callbacks delivered by themselves after each create, `delay` seconds apart (for demos).

    `sms`/`call` are the statuses played in order; `by_number` overrides them per `To` (a relative who never
    answers: `{"+48600000002": ("initiated", "ringing", "no-answer")}`). `digits` presses keys on an answered
    call, per `To` (`{"+48600000001": "1"}`).
    """

    delay: float = 0.2
    sms: tuple[str, ...] = ("sent", "delivered")
    call: tuple[str, ...] = ("initiated", "ringing", "in-progress", "completed")
    by_number: dict[str, tuple[str, ...]] = field(default_factory=dict)
    digits: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeConfig:
    """The settings of one fake; see `FakeTwilio` for what each means."""

    account_sid: str
    auth_token: str
    host: str
    port: int
    phone_number: str
    # When given, a From must be one of "our" numbers (Twilio: 21606 for SMS, 21210 for calls).
    numbers: frozenset[str] | None
    inbound_sms_url: str | None
    url_map: dict[str, str]
    auto: AutoPlay | None
    now: Callable[[], datetime]
    callback_timeout: float
    allow_remote_callbacks: bool
    # Twilio's lists are eventually consistent: a message or call shows up in them this long
    # (by `now`) after it was created. A sender that lists at once may not find what it sent.
    list_lag_s: float
    # Voice: how each number's phone behaves when called (unscripted numbers are driven by hand, as before),
    # and what our numbers do with an incoming call.
    scripts: dict[str, CallScript] = field(default_factory=dict)
    voice_numbers: dict[str, VoiceNumber] = field(default_factory=dict)
