"""The supervisor's overview: open and overdue alarms, who is online, today's answer times."""

from datetime import datetime, timedelta

from fastapi import APIRouter
from pydantic import BaseModel

from alarm_center.alarms import repository
from alarm_center.alarms.model import AlarmStatus
from alarm_center.alarms.moves import LIFE, alarm_class
from alarm_center.alarms.views import AlarmView, alarm_views
from alarm_center.quality import sla
from alarm_center.supervision.platform_status import PlatformProblem, platform_problems
from console.auth import sessions
from console.auth.current import Supervisor
from console.deps import ClockDep, SessionDep
from registry import staff as staff_registry
from registry.model import StaffRole

router = APIRouter(tags=["supervisor"])
ONLINE_WITHIN = timedelta(minutes=2)


class OpenAlarm(BaseModel):
    alarm: AlarmView
    # Unclaimed past the 60 s target, or marked overdue by escalation.
    overdue: bool
    # An operator handed it up to the supervisor (POST /api/alarms/{id}/escalate).
    escalated_to_supervisor: bool
    age_s: float


class OnlineStaff(BaseModel):
    id: int
    full_name: str
    role: str
    last_seen_at: datetime


class AnswerTimes(BaseModel):
    """Life alarms (SOS, fall; test alarms excluded) raised today, Europe/Warsaw day, judged as the
    SLA report judges them (alarm_center.quality.sla, /reports/sla): by the first claim."""

    since: datetime
    alarms: int
    claimed: int
    # Per target: met, and missed (claimed late or still unclaimed past it); young ones not counted.
    within_60s: int
    missed_60s: int
    within_180s: int
    missed_180s: int
    share_within_60s: float | None
    share_within_180s: float | None
    # Median seconds from raised to the first claim, of those claimed.
    median_claim_s: float | None


class Overview(BaseModel):
    # The platform itself: no gateway hearing bands, a deaf gateway, escalation stuck.
    platform_problems: list[PlatformProblem]
    open_alarms: list[OpenAlarm]
    overdue_count: int
    operators_online: list[OnlineStaff]
    answer_times: AnswerTimes


@router.get("/api/supervisor/overview")
async def overview(user: Supervisor, session: SessionDep, clock: ClockDep) -> Overview:
    """Open and overdue alarms, operators online (seen in the last 2 minutes), and today's
    time-to-claim figures against the 60 s / 180 s targets, for the user's municipalities."""
    now = clock.now()
    # An installation test's alarm is the technician's: it never reaches the supervisor.
    alarms = [
        a for a in await repository.open_alarms(session) if user.sees_alarm(a.municipality_id, a.kind) and not a.is_test
    ]
    views = {view.id: view for view in await alarm_views(session, alarms)}
    handed_up = await repository.escalated_to_supervisor_by_staff(session, [a.id for a in alarms])
    open_alarms = []
    for alarm in alarms:
        age = (now - alarm.raised_at).total_seconds()
        late = alarm.status == AlarmStatus.RAISED and alarm_class(alarm.kind) == LIFE and age > sla.TARGET_S
        open_alarms.append(
            OpenAlarm(
                alarm=views[alarm.id],
                # overdue_at may lie ahead: a step fired early marks the time it was due.
                overdue=(alarm.overdue_at is not None and alarm.overdue_at <= now) or late,
                escalated_to_supervisor=alarm.id in handed_up,
                age_s=age,
            )
        )

    online = []
    for staff, seen in await sessions.seen_since(session, now - ONLINE_WITHIN):
        if staff.role not in (StaffRole.OPERATOR, StaffRole.SUPERVISOR):
            continue
        account = await staff_registry.account(session, staff)
        shared = user.municipality_ids is None or (
            account.municipality_ids is not None and bool(account.municipality_ids & user.municipality_ids)
        )
        if shared:
            online.append(OnlineStaff(id=staff.id, full_name=staff.full_name, role=staff.role, last_seen_at=seen))

    since = sla.period_start(sla.Period.TODAY, now)
    timings = await sla.load_timings(
        session, since=since, until=now + timedelta(seconds=1), municipality_ids=user.municipality_ids
    )
    figures = sla.summarise(timings, now=now)
    first, limit = figures.target(sla.TARGET_S), figures.target(sla.LIMIT_S)
    return Overview(
        platform_problems=await platform_problems(session, now=now),
        open_alarms=open_alarms,
        overdue_count=sum(1 for a in open_alarms if a.overdue),
        operators_online=online,
        answer_times=AnswerTimes(
            since=since,
            alarms=figures.alarms,
            claimed=figures.claimed,
            within_60s=first.met,
            missed_60s=first.missed,
            within_180s=limit.met,
            missed_180s=limit.missed,
            share_within_60s=first.share,
            share_within_180s=limit.share,
            median_claim_s=figures.median_claim_s,
        ),
    )
