"""Which notifier the centre runs, as the console can tell: Twilio, or the outbox alone (test mode).

The console has Twilio's webhooks exactly when [notify] mode is "twilio" with its token and public
URL (`TwilioHooks.from_settings`); without them the engine cannot run Twilio either (it refuses to
start), so no webhooks means the offline notifier: SMS and calls are recorded, nothing is sent.
"""

from typing import Literal

from console.context import ConsoleContext

NotifierMode = Literal["outbox", "twilio"]


def notifier_mode(context: ConsoleContext) -> NotifierMode:
    return "outbox" if context.twilio_hooks is None else "twilio"


def in_test_mode(context: ConsoleContext) -> bool:
    """SMS and calls are not sent: every page says so, and /healthz."""
    return notifier_mode(context) == "outbox"
