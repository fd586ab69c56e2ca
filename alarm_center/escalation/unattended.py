"""The unattended centre: what the escalation does when no operator console is connected, and the
account of it a console reads when someone is back.

With nobody at a console the worker (worker.py) skips the waits that only give operators time to
claim, and the first time it pages whoever is on duty. Each is an "escalated" alarm event (the
lifecycle's ESCALATE move, actor "system"), told apart by `detail.reason`:

- WAIT_SKIPPED: {"reason": "wait_skipped", "why": "no_console", "after_step", "after_channel",
  "next_step", "next_channel", "wait_s", "waited_s", "kept_s", "next_due_at", "loop", "policy"}
- UNATTENDED (one per `unattended` step of the policy): {"reason": "unattended", "why":
  "no_console", "unattended_step", "channel", "targets", "policy", "names": {target: name},
  "notification_ids", and per target the duty shift's id or "nobody on duty"}

`unattended_report` lists, for a console's user, the alarms that escalated like that lately.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import timeline_text
from alarm_center.alarms.views import AlarmView, alarm_views
from alarm_center.escalation import repository
from alarm_center.notify.repository import RESPONSE_EVENT

WAIT_SKIPPED = "wait_skipped"
# Someone came back to the console during a cut wait: the next step is put back to its own time.
WAIT_RESTORED = "wait_restored"
UNATTENDED = "unattended"
NO_CONSOLE = "no_console"
NOBODY_ON_DUTY = "nobody on duty"

# How far back a console looks when it opens; the browser hides what its user has already seen.
WINDOW = timedelta(hours=24)
# Bounds, so a busy day cannot make every page load heavy.
MAX_ALARMS_SCANNED = 2000
MAX_ACTIONS = 40

What = Literal["wait_skipped", "unattended_page", "step", "contact_response", "other"]


class UnattendedAction(BaseModel):
    """One thing the escalation did (or a relative answered) while nobody was at the console."""

    at: datetime
    what: What
    # "step": the policy step fired; "wait_skipped": the step that came early (its wait skipped).
    step: int | None = None
    # "wait_skipped": the step whose wait it was.
    after_step: int | None = None
    channel: str | None = None
    targets: list[str] = []
    # "wait_skipped": the policy's wait, and how much of it is still waited (the person paged's time).
    wait_s: int | None = None
    kept_s: int | None = None
    # Who was reached: the person on duty, the relative (names only, never a phone number).
    to: list[str] = []
    # "unattended_page": the roster had nobody on duty to page.
    nobody_on_duty: bool = False
    # "contact_response": "going" or "cannot"; "other": the escalation's reason.
    answer: str | None = None
    reason: str | None = None
    # The same line as on the alarm's timeline (alarm_center/alarms/timeline_text.py): one wording.
    text: str = ""


class UnattendedAlarm(BaseModel):
    alarm: AlarmView
    # The first skipped wait or page: from then on nobody was at the console.
    unattended_since: datetime
    # The newest action listed: the console remembers up to when its user has seen.
    last_at: datetime
    actions: list[UnattendedAction]


class UnattendedReport(BaseModel):
    since: datetime
    alarms: list[UnattendedAlarm]


async def unattended_report(
    session: AsyncSession, *, now: datetime, municipality_ids: frozenset[int] | None
) -> UnattendedReport:
    """Alarms of these municipalities (None: all) whose escalation found nobody at the console in
    the last WINDOW, newest first, each with what was done from then on and its status now."""
    since = now - WINDOW
    alarms = await repository.alarms_touched_since(
        session, since=since, municipality_ids=municipality_ids, limit=MAX_ALARMS_SCANNED
    )
    events = await repository.escalations_and_answers(session, alarm_ids=[a.id for a in alarms], since=since)
    by_alarm: dict[int, list[Any]] = defaultdict(list)
    for event in events:
        by_alarm[event.alarm_id].append(event)
    started: dict[int, datetime] = {}
    for alarm_id, listed in by_alarm.items():
        first = next((e.at for e in listed if _reason(e) in (WAIT_SKIPPED, UNATTENDED)), None)
        if first is not None:
            started[alarm_id] = first
    chosen = [a for a in alarms if a.id in started]
    chosen.sort(key=lambda a: started[a.id], reverse=True)
    actions = {a.id: [e for e in by_alarm[a.id] if e.at >= started[a.id]][:MAX_ACTIONS] for a in chosen}
    names = await repository.contact_names(
        session, {cid for listed in actions.values() for e in listed if (cid := _contact_of(e)) is not None}
    )
    views = {view.id: view for view in await alarm_views(session, chosen)}
    return UnattendedReport(
        since=since,
        alarms=[
            UnattendedAlarm(
                alarm=views[alarm.id],
                unattended_since=started[alarm.id],
                last_at=max(e.at for e in actions[alarm.id]),
                actions=[_action(e, names).model_copy(update={"text": _text(e, names)}) for e in actions[alarm.id]],
            )
            for alarm in chosen
        ],
    )


def _text(event: Any, contact_names: dict[int, str]) -> str:
    actor = contact_names.get(event.actor_id) if event.type == RESPONSE_EVENT else None
    return timeline_text.describe(
        timeline_text.Event(
            type=event.type,
            detail=event.detail or {},
            actor_type=event.actor_type,
            actor_name=actor,
            contact_names=contact_names,
        )
    )


def _reason(event: Any) -> str | None:
    reason = (event.detail or {}).get("reason") if event.type == repository.ESCALATED else None
    return reason if isinstance(reason, str) else None


def _contact_of(event: Any) -> int | None:
    if event.type == RESPONSE_EVENT:
        return event.actor_id if isinstance(event.actor_id, int) else None
    contact = (event.detail or {}).get("contact_id")
    return contact if isinstance(contact, int) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _action(event: Any, contact_names: dict[int, str]) -> UnattendedAction:
    detail: dict[str, Any] = dict(event.detail or {})
    contact = _contact_of(event)
    to = [contact_names[contact]] if contact is not None and contact in contact_names else []
    if event.type == RESPONSE_EVENT:
        return UnattendedAction(at=event.at, what="contact_response", answer=str(detail.get("answer", "")), to=to)
    reason = _reason(event)
    targets = [str(t) for t in detail.get("targets", []) if isinstance(t, str)]
    if reason == WAIT_SKIPPED:
        return UnattendedAction(
            at=event.at,
            what="wait_skipped",
            step=_int(detail.get("next_step")),
            after_step=_int(detail.get("after_step")),
            channel=detail.get("next_channel"),
            wait_s=_int(detail.get("wait_s")),
            kept_s=_int(detail.get("kept_s")),
            reason=detail.get("why"),
        )
    if reason == UNATTENDED:
        named: dict[str, Any] = detail.get("names") or {}
        return UnattendedAction(
            at=event.at,
            what="unattended_page",
            channel=detail.get("channel"),
            targets=targets,
            to=[str(named[t]) for t in targets if t in named],
            nobody_on_duty=any(detail.get(t) == NOBODY_ON_DUTY for t in targets),
        )
    if reason is None and "step" in detail:
        return UnattendedAction(
            at=event.at,
            what="step",
            step=_int(detail.get("step")),
            channel=detail.get("channel"),
            targets=targets,
            to=to,
        )
    return UnattendedAction(at=event.at, what="other", reason=reason, channel=detail.get("channel"), targets=targets)
