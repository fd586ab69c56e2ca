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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.ladder import LADDER, Rung, Service
from alarm_center.alarms.lifecycle import LIFE, RESOLVE_OUTCOMES, TECH, AlarmClass, Outcome, alarm_class, kinds_of
from alarm_center.alarms.model import PLATFORM_KINDS, Alarm, AlarmEvent, AlarmStatus
from alarm_center.notify.model import Channel, Notification, NotificationStatus
from alarm_center.quality import sla
from alarm_center.reports.funder import FunderFigures, funder_figures, participant_sets
from alarm_center.reports.participants import SexAgeTable, participants_at, sex_age_table
from alarm_center.reports.scope import ReportError, ReportScope, municipality_scope
from core.settings import BandSettings, ReportSettings
from registry.health import Problem, device_health

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


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return sla.month_bounds(self.year, self.month)

    def back(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 - months
        return Month(index // 12, index % 12 + 1)

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
    # The same from 1 January of the month's year to the month's end (or now): year to date.
    funder_year: FunderFigures | None = None
    # People in the programme during the month by age band and sex (EU projects).
    sex_age: SexAgeTable | None = None
    # (month "YYYY-MM", people with a band at its end, or now for the unfinished month): the twelve
    # months ending with this one, oldest first.
    participants_by_month: list[tuple[str, int]] = field(default_factory=list)
    # The whole centre's report: True, and the municipalities it adds up (names, by name).
    is_centre: bool = False
    municipalities: list[str] = field(default_factory=list)
    # On the cover: the centre that makes the report and the programme that funds the bands.
    centre_name: str = ""
    programme: str = ""


async def _bands(
    session: AsyncSession, municipality_ids: Sequence[int], now: datetime, settings: BandSettings
) -> tuple[int, dict[str, int]]:
    rows = await device_health(
        session, now=now, settings=settings, municipality_ids=list(municipality_ids), only_problems=False
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


async def alarms_raised(
    session: AsyncSession, municipality_ids: Sequence[int], start: datetime, end: datetime
) -> list[Alarm]:
    """The municipalities' alarms raised in [start, end), test alarms included, oldest first."""
    rows = await session.execute(
        select(Alarm)
        .where(Alarm.municipality_id.in_(list(municipality_ids)), Alarm.raised_at >= start, Alarm.raised_at < end)
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
    session: AsyncSession,
    municipality_ids: Sequence[int],
    start: datetime,
    end: datetime,
    now: datetime,
    real: list[Alarm],
) -> AnswerTimes:
    timings = await sla.load_timings(session, since=start, until=end, municipality_ids=list(municipality_ids))
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


async def _dispatches(
    session: AsyncSession, municipality_ids: Sequence[int], start: datetime, end: datetime
) -> dict[str, int]:
    """Emergency services called in [start, end) for real alarms: service -> count (every service
    present). Read from the ladder's timeline events, the record of what the operator did."""
    counts = dict.fromkeys((service.value for service in Service), 0)
    rows = await session.execute(
        select(AlarmEvent.detail)
        .join(Alarm, Alarm.id == AlarmEvent.alarm_id)
        .where(
            Alarm.municipality_id.in_(list(municipality_ids)),
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
    session: AsyncSession, municipality_ids: Sequence[int], start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """channel -> status -> count of the notifications written in [start, end) for real alarms."""
    notifications = {c.value: dict.fromkeys((s.value for s in NotificationStatus), 0) for c in Channel}
    rows = await session.execute(
        select(Notification.channel, Notification.status, func.count())
        .join(Alarm, Alarm.id == Notification.alarm_id)
        .where(
            Alarm.municipality_id.in_(list(municipality_ids)),
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
    month: Month,
    now: datetime,
    municipality_code: str | None = None,
    scope: ReportScope | None = None,
    settings: BandSettings | None = None,
    cover: ReportSettings | None = None,
) -> MonthlyReport:
    """The report of one municipality (`municipality_code`) or of a `scope` (centre_scope: the
    whole centre); ReportError for a municipality that does not exist. A month with nothing in it
    (or in the future) gives a report of zeros."""
    if scope is None:
        if municipality_code is None:
            raise TypeError("monthly_report needs a municipality_code or a scope")
        scope = await municipality_scope(session, municipality_code)
    ids = scope.municipality_ids
    start, end = month.bounds
    alarms = await alarms_raised(session, ids, start, end)
    real = [a for a in alarms if not a.is_test]
    alarms_by_kind = _alarms_by_kind(real)
    outcomes = _outcomes(real, list(alarms_by_kind))
    answer = await _answer_times(session, ids, start, end, now, real)
    technical = _technical_lines(real)
    notifications = await _notifications(session, ids, start, end)
    until = min(end, now)
    participants = await participant_sets(session, ids, start, until)
    bands_total, bands_by_state = await _bands(session, ids, now, settings or BandSettings())
    funder = await funder_figures(session, ids, start, until, alarms)
    return MonthlyReport(
        municipality_code=scope.code,
        municipality_name=scope.name,
        month=str(month),
        period_start=start,
        period_end=end,
        generated_at=now,
        participants_at_end=len(participants.at_end),
        participants_during=len(participants.during),
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
        dispatches=await _dispatches(session, ids, start, end),
        funder=funder,
        funder_previous=await _funder_of(session, ids, month.previous(), now),
        funder_year=funder if month.month == 1 else await _funder_year(session, ids, month, now),
        sex_age=await sex_age_table(session, participants.during, _last_day(start, until)),
        participants_by_month=await _participants_by_month(session, ids, month, now),
        is_centre=scope.is_centre,
        municipalities=list(scope.municipality_names),
        centre_name=(cover or ReportSettings()).centre_name,
        programme=(cover or ReportSettings()).programme,
    )


def _last_day(start: datetime, until: datetime) -> date:
    """The period's last local day (today for an unfinished month): the day ages are counted on."""
    return max(start, until - timedelta(microseconds=1)).astimezone(sla.LOCAL).date()


async def _funder_of(session: AsyncSession, ids: Sequence[int], month: Month, now: datetime) -> FunderFigures:
    start, end = month.bounds
    alarms = await alarms_raised(session, ids, start, end)
    return await funder_figures(session, ids, start, min(end, now), alarms)


async def _funder_year(session: AsyncSession, ids: Sequence[int], month: Month, now: datetime) -> FunderFigures:
    start, _ = Month(month.year, 1).bounds
    end = min(month.bounds[1], now)
    alarms = await alarms_raised(session, ids, start, end)
    return await funder_figures(session, ids, start, end, alarms)


async def _participants_by_month(
    session: AsyncSession, ids: Sequence[int], month: Month, now: datetime
) -> list[tuple[str, int]]:
    months = [month.back(back) for back in range(11, -1, -1)]
    instants = [min(m.bounds[1], now) for m in months]
    # A month wholly in the future has no end yet to count at: only months begun are drawn.
    shown = [(m, at) for m, at in zip(months, instants, strict=True) if m.bounds[0] <= now]
    if not shown:
        return []
    counts = await participants_at(session, ids, [at for _, at in shown])
    return [(str(m), count) for (m, _), count in zip(shown, counts, strict=True)]
