"""The answer-time SLA: GET /api/sla and its page, /reports/sla.

Supervisors and administrators only, each seeing their own municipalities. No `from __future__
import annotations`: FastAPI resolves the Annotated dependencies at import time.
"""

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from alarm_center.quality import sla
from console.auth.current import Supervisor
from console.deps import ClockDep, SessionDep
from console.pages import _page, _to_login, _viewer, refusal_page
from registry.model import StaffRole

router = APIRouter(tags=["reports"])


class TargetOut(BaseModel):
    target_s: int
    required_share: float
    # Alarms judged against this target: met + missed (pending ones wait for their verdict).
    counted: int
    met: int
    missed: int
    pending: int
    share: float | None
    # None while nothing is counted.
    achieved: bool | None


class FiguresOut(BaseModel):
    alarms: int
    claimed: int
    within_60s: TargetOut
    within_180s: TargetOut
    median_claim_s: float | None
    p90_claim_s: float | None
    max_claim_s: float | None
    median_resolve_s: float | None


class BreakdownOut(BaseModel):
    id: int | None
    label: str
    figures: FiguresOut


class TimelineOut(BaseModel):
    at: datetime
    type: str
    actor_type: str
    actor_name: str | None
    seconds_from_raised: float


class MissedOut(BaseModel):
    alarm_id: int
    url: str
    kind: str
    status: str
    municipality_code: str | None
    raised_at: datetime
    first_claimed_at: datetime | None
    claimed_by_name: str | None
    closed_at: datetime | None
    outcome: str | None
    claim_s: float | None
    resolve_s: float | None
    missed_targets: list[int]
    timeline: list[TimelineOut]


class SlaOut(BaseModel):
    period: sla.Period
    since: datetime
    until: datetime
    overall: FiguresOut
    by_municipality: list[BreakdownOut]
    by_operator: list[BreakdownOut]
    missed: list[MissedOut]
    # All that missed a target in the period; `missed` holds the newest of them.
    missed_total: int


def _target(figures: sla.TargetFigures) -> TargetOut:
    return TargetOut(
        target_s=figures.target_s,
        required_share=figures.required_share,
        counted=figures.counted,
        met=figures.met,
        missed=figures.missed,
        pending=figures.pending,
        share=figures.share,
        achieved=figures.achieved,
    )


def _figures(figures: sla.Figures) -> FiguresOut:
    return FiguresOut(
        alarms=figures.alarms,
        claimed=figures.claimed,
        within_60s=_target(figures.target(sla.TARGET_S)),
        within_180s=_target(figures.target(sla.LIMIT_S)),
        median_claim_s=figures.median_claim_s,
        p90_claim_s=figures.p90_claim_s,
        max_claim_s=figures.max_claim_s,
        median_resolve_s=figures.median_resolve_s,
    )


def _missed(missed: sla.MissedAlarm) -> MissedOut:
    t = missed.timing
    return MissedOut(
        alarm_id=t.alarm_id,
        url=f"/alarms/{t.alarm_id}",
        kind=t.kind,
        status=t.status,
        municipality_code=missed.municipality_code,
        raised_at=t.raised_at,
        first_claimed_at=t.first_claimed_at,
        claimed_by_name=missed.claimed_by_name,
        closed_at=t.closed_at,
        outcome=t.outcome,
        claim_s=t.claim_s,
        resolve_s=t.resolve_s,
        missed_targets=list(missed.missed_targets),
        timeline=[
            TimelineOut(
                at=e.at,
                type=e.type,
                actor_type=e.actor_type,
                actor_name=e.actor_name,
                seconds_from_raised=e.seconds_from_raised,
            )
            for e in missed.timeline
        ],
    )


@router.get("/api/sla")
async def answer_time_sla(
    user: Supervisor, session: SessionDep, clock: ClockDep, period: sla.Period = sla.Period.TODAY
) -> SlaOut:
    """Life alarms' (SOS, fall; test alarms excluded) time to claim and to resolve since the start of
    today, this week (Monday) or this month, Europe/Warsaw, against the TSA targets (97.5 % claimed
    within 60 s, 99 % within 180 s), overall, per municipality and per operator, with the alarms that
    missed a target and their timelines. Only the user's municipalities."""
    report = await sla.sla_report(session, period=period, now=clock.now(), municipality_ids=user.municipality_ids)
    return SlaOut(
        period=report.period,
        since=report.since,
        until=report.until,
        overall=_figures(report.overall),
        by_municipality=[
            BreakdownOut(id=b.key, label=b.label, figures=_figures(b.figures)) for b in report.by_municipality
        ],
        by_operator=[BreakdownOut(id=b.key, label=b.label, figures=_figures(b.figures)) for b in report.by_operator],
        missed=[_missed(m) for m in report.missed],
        missed_total=report.missed_total,
    )


@router.get("/reports/sla", include_in_schema=False)
async def sla_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    if user.role not in (StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR):
        return refusal_page(request, user)
    return _page(request, "report_sla.html", user)
