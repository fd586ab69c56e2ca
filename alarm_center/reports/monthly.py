"""The monthly report of one municipality: participants, bands, alarms, answer times, technical
alarms and notifications, for one Europe/Warsaw calendar month.

Funders read it, so it carries figures only: no names, addresses, phone numbers or band serials.
An alarm belongs to the month it was raised in (its band message received); a notification to the
month it was written. Test alarms are counted apart and left out of every other figure.
Band health is the state when the report is made (the database keeps no history of it);
participants are rebuilt from the bands' history (bound, unbound, swapped, decommissioned).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.ladder import LADDER, Rung, Service
from alarm_center.alarms.lifecycle import LIFE, RESOLVE_OUTCOMES, TECH, AlarmClass, Outcome, alarm_class, kinds_of
from alarm_center.alarms.model import PLATFORM_KINDS, Alarm, AlarmEvent, AlarmStatus
from alarm_center.notify.model import Channel, Notification, NotificationStatus
from alarm_center.quality import sla
from alarm_center.reports.funder import FunderFigures, funder_figures, participant_flow
from core.settings import BandSettings
from registry.health import Problem, device_health
from registry.model import Municipality

MONTH_FORMAT = re.compile(r"^(\d{4})-(\d{2})$")
# Upper bounds of the answer-time buckets, seconds; the targets (60, 180) are bounds.
ANSWER_BUCKETS: tuple[int, ...] = (10, 30, 60, 120, 180, 600)
OPEN = "open"  # the "outcome" of an alarm not closed yet
UNANSWERED = "unanswered"
BAND_OK = "ok"
BAND_STATES: tuple[str, ...] = (BAND_OK, *(p.value for p in Problem))
LIFE_OUTCOMES: tuple[str, ...] = (*sorted(o.value for o in RESOLVE_OUTCOMES[LIFE]), OPEN)
TECH_OUTCOMES: tuple[str, ...] = (
    Outcome.AUTO_CLEARED.value,
    *sorted(o.value for o in RESOLVE_OUTCOMES[TECH]),
    OPEN,
)


class ReportError(ValueError):
    """Input a report cannot be made from; the message says what is wrong, in Polish, for a person."""


class UnknownMunicipality(ReportError):
    pass


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return sla.month_bounds(self.year, self.month)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def days(self) -> list[date]:
        first = date(self.year, self.month, 1)
        following = date(self.year + 1, 1, 1) if self.month == 12 else date(self.year, self.month + 1, 1)
        return [first + timedelta(days=n) for n in range((following - first).days)]


def parse_month(text: str) -> Month:
    """'2026-11' as a Month; ReportError for anything else."""
    match = MONTH_FORMAT.match(text.strip())
    if not match:
        raise ReportError(f"miesiąc {text!r} nie jest w postaci RRRR-MM, np. 2026-11")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ReportError(f"miesiąc {text!r}: nie ma miesiąca {month}")
    if not 2000 <= year <= 2100:
        raise ReportError(f"miesiąc {text!r}: rok musi być między 2000 a 2100")
    return Month(year, month)


@dataclass(frozen=True)
class TargetLine:
    target_s: int
    required_share: float
    counted: int
    met: int
    missed: int
    share: float | None
    achieved: bool | None


@dataclass(frozen=True)
class AnswerTimes:
    """Life alarms only (SOS, fall)."""

    alarms: int
    claimed: int
    targets: list[TargetLine]
    # Upper bound in seconds (None: above the last) -> alarms first claimed within it.
    distribution: list[tuple[int | None, int]]
    unanswered: int
    median_claim_s: float | None
    p90_claim_s: float | None
    max_claim_s: float | None
    median_resolve_s: float | None
    # Marked overdue by escalation (not claimed in the policy's time).
    overdue: int


@dataclass(frozen=True)
class TechnicalLine:
    kind: str
    raised: int
    closed: int
    still_open: int
    auto_cleared: int
    # Of the closed ones: from raised to closed.
    total_hours: float
    median_hours: float | None
    max_hours: float | None


@dataclass(frozen=True)
class DayLine:
    day: date
    life: int
    technical: int


@dataclass(frozen=True)
class MonthlyReport:
    municipality_code: str
    municipality_name: str
    month: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    participants_at_end: int
    participants_during: int
    bands_total: int
    bands_by_state: dict[str, int]
    alarms_total: int
    alarms_by_kind: dict[str, int]
    # kind -> outcome -> count; every outcome possible for the kind is present, zero or not.
    outcomes: dict[str, dict[str, int]]
    test_alarms: int
    answer: AnswerTimes
    technical: list[TechnicalLine]
    # channel -> status -> count
    notifications: dict[str, dict[str, int]]
    notifications_total: int
    days: list[DayLine] = field(default_factory=list)
    # Emergency services called from the no-response ladder (service -> count), for real alarms.
    dispatches: dict[str, int] = field(default_factory=dict)
    # What the funder asks for, this month and the month before (for the comparison).
    funder: FunderFigures | None = None
    funder_previous: FunderFigures | None = None


async def find_municipality(session: AsyncSession, code: str) -> Municipality:
    municipality = (
        await session.execute(select(Municipality).where(Municipality.code == code.strip()))
    ).scalar_one_or_none()
    if municipality is None:
        raise UnknownMunicipality(f"nie ma gminy o kodzie {code!r} (lista: opaska municipality list)")
    return municipality


async def _bands(
    session: AsyncSession, municipality_id: int, now: datetime, settings: BandSettings
) -> tuple[int, dict[str, int]]:
    rows = await device_health(
        session, now=now, settings=settings, municipality_ids=[municipality_id], only_problems=False
    )
    states = dict.fromkeys(BAND_STATES, 0)
    for row in rows:
        for state in [str(problem) for problem in row.problems] or [BAND_OK]:
            states[state] += 1
    return len(rows), states


def _distribution(claims: list[float]) -> list[tuple[int | None, int]]:
    counts: list[tuple[int | None, int]] = []
    lower = -1.0
    for upper in ANSWER_BUCKETS:
        counts.append((upper, sum(1 for s in claims if lower < s <= upper)))
        lower = upper
    counts.append((None, sum(1 for s in claims if s > lower)))
    return counts


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 2)


async def alarms_raised(session: AsyncSession, municipality_id: int, start: datetime, end: datetime) -> list[Alarm]:
    """The municipality's alarms raised in [start, end), test alarms included, oldest first."""
    rows = await session.execute(
        select(Alarm)
        .where(Alarm.municipality_id == municipality_id, Alarm.raised_at >= start, Alarm.raised_at < end)
        .order_by(Alarm.raised_at, Alarm.id)
    )
    return list(rows.scalars().all())


def _reported(cls: AlarmClass) -> list[str]:
    """The kinds of a class a municipality's report lists: not the platform's own."""
    return [kind for kind in kinds_of(cls) if kind not in PLATFORM_KINDS]


def _alarms_by_kind(real: list[Alarm]) -> dict[str, int]:
    by_kind = Counter(a.kind for a in real)
    alarms_by_kind = {kind: by_kind.get(kind, 0) for kind in (*_reported(LIFE), *_reported(TECH))}
    for kind, count in by_kind.items():  # a kind this code does not know is still counted
        alarms_by_kind.setdefault(kind, count)
    return alarms_by_kind


def _outcomes(real: list[Alarm], kinds: list[str]) -> dict[str, dict[str, int]]:
    outcomes: dict[str, dict[str, int]] = {}
    for kind in kinds:
        possible = TECH_OUTCOMES if alarm_class(kind) == TECH else LIFE_OUTCOMES
        outcomes[kind] = dict.fromkeys(possible, 0)
    for alarm in real:
        outcome = alarm.outcome if alarm.status in (AlarmStatus.RESOLVED, AlarmStatus.CANCELLED) else OPEN
        outcomes[alarm.kind][outcome or OPEN] = outcomes[alarm.kind].get(outcome or OPEN, 0) + 1
    return outcomes


async def _answer_times(
    session: AsyncSession, municipality_id: int, start: datetime, end: datetime, now: datetime, real: list[Alarm]
) -> AnswerTimes:
    timings = await sla.load_timings(session, since=start, until=end, municipality_ids=[municipality_id])
    # An alarm still unclaimed is judged as it stands when the report is made.
    figures = sla.summarise(timings, now=now)
    claims = [s for s in (t.claim_s for t in timings) if s is not None]
    return AnswerTimes(
        alarms=figures.alarms,
        claimed=figures.claimed,
        targets=[
            TargetLine(t.target_s, t.required_share, t.counted, t.met, t.missed, t.share, t.achieved)
            for t in figures.within
        ],
        distribution=_distribution(claims),
        unanswered=figures.alarms - figures.claimed,
        median_claim_s=figures.median_claim_s,
        p90_claim_s=figures.p90_claim_s,
        max_claim_s=figures.max_claim_s,
        median_resolve_s=figures.median_resolve_s,
        overdue=sum(1 for a in real if alarm_class(a.kind) == LIFE and _was_overdue(a)),
    )


def _was_overdue(alarm: Alarm) -> bool:
    """Still unclaimed when it became overdue (its overdue time may have been set ahead, by a step
    fired early while nobody was at the console)."""
    if alarm.overdue_at is None:
        return False
    taken = alarm.claimed_at or alarm.closed_at
    return taken is None or alarm.overdue_at <= taken


def _technical_lines(real: list[Alarm]) -> list[TechnicalLine]:
    technical = []
    for kind in _reported(TECH):
        found = [a for a in real if a.kind == kind]
        durations = [(a.closed_at - a.raised_at).total_seconds() for a in found if a.closed_at is not None]
        technical.append(
            TechnicalLine(
                kind=kind,
                raised=len(found),
                closed=len(durations),
                still_open=len(found) - len(durations),
                auto_cleared=sum(1 for a in found if a.outcome == Outcome.AUTO_CLEARED),
                total_hours=_hours(sum(durations)),
                median_hours=_hours(statistics.median(durations)) if durations else None,
                max_hours=_hours(max(durations)) if durations else None,
            )
        )
    return technical


async def _dispatches(session: AsyncSession, municipality_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """Emergency services called in [start, end) for real alarms: service -> count (every service
    present). Read from the ladder's timeline events, the record of what the operator did."""
    counts = dict.fromkeys((service.value for service in Service), 0)
    rows = await session.execute(
        select(AlarmEvent.detail)
        .join(Alarm, Alarm.id == AlarmEvent.alarm_id)
        .where(
            Alarm.municipality_id == municipality_id,
            Alarm.is_test.is_(False),
            AlarmEvent.type == "note",
            AlarmEvent.at >= start,
            AlarmEvent.at < end,
        )
    )
    for (detail,) in rows:
        if isinstance(detail, dict) and detail.get("action") == LADDER and detail.get("rung") == Rung.DISPATCHED:
            service = str(detail.get("service"))
            counts[service] = counts.get(service, 0) + 1
    return counts


async def _notifications(
    session: AsyncSession, municipality_id: int, start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """channel -> status -> count of the notifications written in [start, end) for real alarms."""
    notifications = {c.value: dict.fromkeys((s.value for s in NotificationStatus), 0) for c in Channel}
    rows = await session.execute(
        select(Notification.channel, Notification.status, func.count())
        .join(Alarm, Alarm.id == Notification.alarm_id)
        .where(
            Alarm.municipality_id == municipality_id,
            Alarm.is_test.is_(False),
            Notification.created_at >= start,
            Notification.created_at < end,
        )
        .group_by(Notification.channel, Notification.status)
    )
    for channel, status, count in rows:
        notifications.setdefault(channel, {})[status] = count
    return notifications


def _day_lines(real: list[Alarm], month: Month) -> list[DayLine]:
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for alarm in real:
        per_day[alarm.raised_at.astimezone(sla.LOCAL).date()][0 if alarm_class(alarm.kind) == LIFE else 1] += 1
    return [DayLine(day, *per_day.get(day, [0, 0])) for day in month.days()]


async def monthly_report(
    session: AsyncSession,
    *,
    municipality_code: str,
    month: Month,
    now: datetime,
    settings: BandSettings | None = None,
) -> MonthlyReport:
    """The report; ReportError for a municipality that does not exist. A month with nothing in it
    (or in the future) gives a report of zeros."""
    municipality = await find_municipality(session, municipality_code)
    start, end = month.bounds
    alarms = await alarms_raised(session, municipality.id, start, end)
    real = [a for a in alarms if not a.is_test]
    alarms_by_kind = _alarms_by_kind(real)
    outcomes = _outcomes(real, list(alarms_by_kind))
    answer = await _answer_times(session, municipality.id, start, end, now, real)
    technical = _technical_lines(real)
    notifications = await _notifications(session, municipality.id, start, end)
    participants = await participant_flow(session, municipality.id, start, min(end, now))
    bands_total, bands_by_state = await _bands(session, municipality.id, now, settings or BandSettings())
    return MonthlyReport(
        municipality_code=municipality.code,
        municipality_name=municipality.name,
        month=str(month),
        period_start=start,
        period_end=end,
        generated_at=now,
        participants_at_end=participants.at_end,
        participants_during=participants.during,
        bands_total=bands_total,
        bands_by_state=bands_by_state,
        alarms_total=len(real),
        alarms_by_kind=alarms_by_kind,
        outcomes=outcomes,
        test_alarms=len(alarms) - len(real),
        answer=answer,
        technical=technical,
        notifications=notifications,
        notifications_total=sum(sum(by_status.values()) for by_status in notifications.values()),
        days=_day_lines(real, month),
        dispatches=await _dispatches(session, municipality.id, start, end),
        funder=await funder_figures(session, municipality.id, start, min(end, now), alarms),
        funder_previous=await _funder_previous(session, municipality.id, month, now),
    )


async def _funder_previous(session: AsyncSession, municipality_id: int, month: Month, now: datetime) -> FunderFigures:
    start, end = month.previous().bounds
    alarms = await alarms_raised(session, municipality_id, start, end)
    return await funder_figures(session, municipality_id, start, min(end, now), alarms)
