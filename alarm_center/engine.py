"""The engine process: the workers that act on alarms over time (escalation, the outbox, supervision)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.canary.echo import run_canary_echo
from alarm_center.care.checkin import run_checkin_watch
from alarm_center.care.zones import run_zone_watch
from alarm_center.escalation.auditor import EscalationAuditor
from alarm_center.escalation.worker import run_escalation
from alarm_center.notify.notifier import Notifier, OfflineNotifier
from alarm_center.notify.outbox import OutboxPolicy, OutboxSender
from alarm_center.notify.status_link import StatusLinks
from alarm_center.notify.twilio_notifier import TwilioNotifier
from alarm_center.supervision.loop import run_supervision
from alarm_center.voice.recording import run_recording_sweep
from alarm_center.voice.twilio_telephone import TwilioTelephone
from core import health
from core.clock import Clock
from core.settings import Settings, SettingsError


def make_notifier(settings: Settings) -> Notifier:
    """The notifier [notify] mode names. Twilio's needs the running event loop (it opens an HTTP session)."""
    match settings.notify.mode:
        case "outbox":
            return OfflineNotifier()
        case "twilio":
            twilio = settings.twilio
            missing = twilio.missing()
            if missing:
                names = ", ".join(f"twilio.{name} (OPASKA_TWILIO_{name.upper()})" for name in missing)
                raise SettingsError(f'[notify] mode = "twilio" needs {names}')
            return TwilioNotifier.create(
                account_sid=twilio.account_sid,
                auth_token=twilio.auth_token.get_secret_value(),
                from_number=twilio.from_number,
                public_url=twilio.public_url,
                api_base_url=twilio.api_base_url,
                timeout_s=twilio.timeout_s,
            )


def outbox_policy(settings: Settings) -> OutboxPolicy:
    notify = settings.notify
    return OutboxPolicy(
        max_attempts=notify.max_attempts,
        send_deadline_s=notify.send_deadline_s,
        reconcile_after_s=notify.reconcile_after_s,
        per_number_per_minute=notify.per_number_per_minute,
    )


async def run_engine(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], clock: Clock, *, audit: bool = True
) -> None:
    """The engine's workers, each watched by /readyz; `audit` adds the escalation auditor (a
    process with a console runs it there instead)."""
    links = StatusLinks.from_settings(settings)
    sender = OutboxSender(session_factory, make_notifier(settings), clock, outbox_policy(settings))
    watch = health.PROCESS.watch
    async with asyncio.TaskGroup() as tasks:
        watch(tasks.create_task(run_escalation(settings, session_factory, clock, links=links), name="escalation"))
        watch(tasks.create_task(sender.run(), name="outbox"))
        watch(tasks.create_task(run_supervision(settings, session_factory, clock), name="supervision"))
        watch(tasks.create_task(run_checkin_watch(settings, session_factory, clock), name="checkin-watch"))
        watch(tasks.create_task(run_zone_watch(settings, session_factory, clock), name="zone-watch"))
        watch(tasks.create_task(run_canary_echo(settings, session_factory, clock), name="canary-echo"))
        # Call recordings past retention or of erased residents are deleted at Twilio (RODO); with
        # no Twilio (test mode) no call is placed, so nothing is ever recorded.
        telephone = TwilioTelephone.from_settings(settings)
        if telephone is not None:
            sweep = run_recording_sweep(settings.voice, session_factory, clock, telephone, on_stop=telephone.aclose)
            watch(tasks.create_task(sweep, name="recording-sweep"))
        if audit:
            auditor = EscalationAuditor(session_factory, clock)
            health.PROCESS.add_check("escalation", auditor.check)
            watch(tasks.create_task(auditor.run(), name="escalation-auditor"))
