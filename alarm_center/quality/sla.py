"""Answer-time SLA: time to claim and to resolve, from the moment the band's message was received.

The targets are the UK TSA telecare standard's: 97.5 % of alarm calls answered within 60 s and
99 % within 180 s. "Answered" is the first claim by a person (a release and a later claim do not
reset the clock: the resident waited for the first voice), read from the audit trail, since the
alarm row keeps only the current claim.

Which alarms count, per target:
- claimed: met if claimed within the target, missed otherwise;
- closed without a claim (the resident cancelled): missed if it waited past the target unanswered,
  otherwise not counted (there was no call left to answer);
- still open and unclaimed: missed once older than the target, pending until then (not counted).
Life alarms (SOS, fall) only: technical alarms are not calls. Test alarms never count.

Periods are Europe/Warsaw calendar days, weeks (from Monday) and months; every instant is
timezone-aware UTC, so durations across the daylight-saving change are right.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmKind
from alarm_center.alarms.moves import LIFE, alarm_class
from registry.model import Municipality, StaffUser

LOCAL = ZoneInfo("Europe/Warsaw")
TARGET_S = 60
LIMIT_S = 180
# The share of alarm calls each target asks for (TSA).
TARGET_SHARE = 0.975
LIMIT_SHARE = 0.99
TARGETS: tuple[tuple[int, float], ...] = ((TARGET_S, TARGET_SHARE), (LIMIT_S, LIMIT_SHARE))
# The missed list is for a person to read through; past this, the newest are shown.
MISSED_SHOWN = 200


class Period(StrEnum):
    TODAY = "today"
    WEEK = "week"
    MONTH = "month"


class Verdict(StrEnum):
    MET = "met"
    MISSED = "missed"
    PENDING = "pending"  # open, unclaimed, not yet past the target
    NOT_COUNTED = "not_counted"  # closed unclaimed before the target: nothing left to answer


def local_midnight(day: date) -> datetime:
    """The instant a Europe/Warsaw calendar day begins, in UTC (midnight is a fold-free hour on every
    day). UTC, because Python subtracts two datetimes of one zone by their wall clocks: October's
    end minus its start would lose the hour the clocks go back."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL).astimezone(UTC)


def period_start(period: Period, now: datetime) -> datetime:
    """The start of today, this week (Monday) or this month, Europe/Warsaw, as an aware instant."""
    today = now.astimezone(LOCAL).date()
    if period == Period.TODAY:
        return local_midnight(today)
    if period == Period.WEEK:
        return local_midnight(today - timedelta(days=today.weekday()))
    return local_midnight(today.replace(day=1))


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """[start, end) of a Europe/Warsaw calendar month (October's is an hour longer than 31 days)."""
    start = local_midnight(date(year, month, 1))
    end = local_midnight(date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1))
    return start, end


@dataclass(frozen=True)
class AlarmTiming:
    """One alarm's moments, as the SLA needs them."""

    alarm_id: int
    municipality_id: int | None
    kind: str
    status: str
    raised_at: datetime
    first_claimed_at: datetime | None
    first_claimed_by: int | None
    closed_at: datetime | None
    outcome: str | None

    @property
    def claim_s(self) -> float | None:
        """Seconds from raised to the first claim."""
        if self.first_claimed_at is None:
            return None
        return (self.first_claimed_at - self.raised_at).total_seconds()

    @property
    def resolve_s(self) -> float | None:
        """Seconds from raised to closed (resolved or cancelled)."""
        if self.closed_at is None:
            return None
        return (self.closed_at - self.raised_at).total_seconds()

    def verdict(self, target_s: float, *, now: datetime) -> Verdict:
        """Whether this alarm met the target (see the module's docstring for the rules)."""
        waited = self.claim_s
        if waited is not None:
            return Verdict.MET if waited <= target_s else Verdict.MISSED
        until = self.closed_at or now
        if (until - self.raised_at).total_seconds() > target_s:
            return Verdict.MISSED
        return Verdict.NOT_COUNTED if self.closed_at is not None else Verdict.PENDING


@dataclass(frozen=True)
class TargetFigures:
    target_s: int
    required_share: float
    counted: int
    met: int
    missed: int
    pending: int

    @property
    def share(self) -> float | None:
        return self.met / self.counted if self.counted else None

    @property
    def achieved(self) -> bool | None:
        """None when nothing counted yet: no alarms is neither a pass nor a failure."""
        share = self.share
        return None if share is None else share >= self.required_share


@dataclass(frozen=True)
class Figures:
    alarms: int
    claimed: int
    within: tuple[TargetFigures, ...]
    median_claim_s: float | None
    p90_claim_s: float | None
    max_claim_s: float | None
    median_resolve_s: float | None

    def target(self, target_s: int) -> TargetFigures:
        return next(t for t in self.within if t.target_s == target_s)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (a value that occurred, as a person reading the list expects)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def summarise(timings: Iterable[AlarmTiming], *, now: datetime) -> Figures:
    """The figures of a set of alarms against both targets."""
    timings = list(timings)
    within = []
    for target_s, share in TARGETS:
        verdicts = [t.verdict(target_s, now=now) for t in timings]
        met = verdicts.count(Verdict.MET)
        missed = verdicts.count(Verdict.MISSED)
        within.append(TargetFigures(target_s, share, met + missed, met, missed, verdicts.count(Verdict.PENDING)))
    claims = [s for s in (t.claim_s for t in timings) if s is not None]
    resolves = [s for s in (t.resolve_s for t in timings) if s is not None]
    return Figures(
        alarms=len(timings),
        claimed=len(claims),
        within=tuple(within),
        median_claim_s=statistics.median(claims) if claims else None,
        p90_claim_s=percentile(claims, 0.9),
        max_claim_s=max(claims) if claims else None,
        median_resolve_s=statistics.median(resolves) if resolves else None,
    )


async def load_timings(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    municipality_ids: Collection[int] | None,
    life_only: bool = True,
) -> list[AlarmTiming]:
    """Non-test alarms raised in [since, until), of these municipalities (None: all), oldest first."""
    conditions = [
        Alarm.raised_at >= since,
        Alarm.raised_at < until,
        Alarm.is_test.is_(False),
        Alarm.kind != AlarmKind.CANARY.value,
    ]
    if municipality_ids is not None:
        conditions.append(Alarm.municipality_id.in_(list(municipality_ids)))
    rows = (
        await session.execute(
            select(
                Alarm.id,
                Alarm.municipality_id,
                Alarm.kind,
                Alarm.status,
                Alarm.raised_at,
                Alarm.closed_at,
                Alarm.outcome,
            )
            .where(*conditions)
            .order_by(Alarm.raised_at, Alarm.id)
        )
    ).all()
    # The first claim of each, from the audit trail (the row forgets a claim that was released).
    claims = (
        await session.execute(
            select(AlarmEvent.alarm_id, AlarmEvent.at, AlarmEvent.actor_id)
            .join(Alarm, Alarm.id == AlarmEvent.alarm_id)
            .where(*conditions, AlarmEvent.type == "claimed")
            .order_by(AlarmEvent.alarm_id, AlarmEvent.at, AlarmEvent.id)
        )
    ).all()
    first: dict[int, tuple[datetime, int | None]] = {}
    for alarm_id, at, actor_id in claims:
        first.setdefault(alarm_id, (at, actor_id))
    timings = []
    for row in rows:
        if life_only and alarm_class(row.kind) != LIFE:
            continue
        claimed_at, claimed_by = first.get(row.id, (None, None))
        timings.append(
            AlarmTiming(
                row.id,
                row.municipality_id,
                row.kind,
                row.status,
                row.raised_at,
                claimed_at,
                claimed_by,
                row.closed_at,
                row.outcome,
            )
        )
    return timings


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    type: str
    actor_type: str
    actor_name: str | None
    seconds_from_raised: float


@dataclass(frozen=True)
class MissedAlarm:
    timing: AlarmTiming
    municipality_code: str | None
    claimed_by_name: str | None
    # The targets it missed (60, 180, or both).
    missed_targets: tuple[int, ...]
    timeline: list[TimelineEntry]


@dataclass(frozen=True)
class Breakdown:
    key: int | None
    label: str
    figures: Figures


@dataclass(frozen=True)
class SlaReport:
    period: Period
    since: datetime
    until: datetime
    overall: Figures
    by_municipality: list[Breakdown]
    # Per first claimer: alarms they answered (an alarm nobody answered is nobody's to count).
    by_operator: list[Breakdown]
    missed: list[MissedAlarm]
    missed_total: int
    unknown_municipality: int = field(default=0)


async def _names(session: AsyncSession, staff_ids: Collection[int]) -> dict[int, str]:
    if not staff_ids:
        return {}
    rows = await session.execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(list(staff_ids))))
    return {staff_id: name for staff_id, name in rows}


async def _timelines(session: AsyncSession, timings: Sequence[AlarmTiming]) -> dict[int, list[AlarmEvent]]:
    if not timings:
        return {}
    events = (
        (
            await session.execute(
                select(AlarmEvent)
                .where(AlarmEvent.alarm_id.in_([t.alarm_id for t in timings]))
                .order_by(AlarmEvent.alarm_id, AlarmEvent.at, AlarmEvent.id)
            )
        )
        .scalars()
        .all()
    )
    grouped: dict[int, list[AlarmEvent]] = defaultdict(list)
    for event in events:
        grouped[event.alarm_id].append(event)
    return grouped


async def sla_report(
    session: AsyncSession, *, period: Period, now: datetime, municipality_ids: Collection[int] | None
) -> SlaReport:
    """The SLA figures since the period began, overall, per municipality and per operator, with the
    alarms that missed a target and their timelines. `municipality_ids` None: every municipality."""
    since = period_start(period, now)
    timings = await load_timings(
        session, since=since, until=now + timedelta(microseconds=1), municipality_ids=municipality_ids
    )
    municipalities = {
        m.id: m
        for m in (await session.execute(select(Municipality).order_by(Municipality.code))).scalars()
        if municipality_ids is None or m.id in municipality_ids
    }
    per_municipality: dict[int | None, list[AlarmTiming]] = defaultdict(list)
    per_operator: dict[int, list[AlarmTiming]] = defaultdict(list)
    for timing in timings:
        per_municipality[timing.municipality_id].append(timing)
        if timing.first_claimed_by is not None:
            per_operator[timing.first_claimed_by].append(timing)
    by_municipality = [
        Breakdown(m.id, f"{m.name} ({m.code})", summarise(per_municipality.get(m.id, []), now=now))
        for m in municipalities.values()
    ]
    names = await _names(session, per_operator.keys())
    by_operator = sorted(
        (
            Breakdown(staff_id, names.get(staff_id, f"#{staff_id}"), summarise(found, now=now))
            for staff_id, found in per_operator.items()
        ),
        key=lambda b: b.label,
    )
    missed_timings = [
        t for t in timings if any(t.verdict(target_s, now=now) == Verdict.MISSED for target_s, _ in TARGETS)
    ]
    shown = sorted(missed_timings, key=lambda t: t.raised_at, reverse=True)[:MISSED_SHOWN]
    events = await _timelines(session, shown)
    actors = {e.actor_id for found in events.values() for e in found if e.actor_type == "staff" and e.actor_id}
    names |= await _names(session, actors - names.keys())
    missed = []
    for timing in shown:
        municipality = municipalities.get(timing.municipality_id) if timing.municipality_id is not None else None
        missed.append(
            MissedAlarm(
                timing,
                municipality.code if municipality else None,
                names.get(timing.first_claimed_by) if timing.first_claimed_by is not None else None,
                tuple(target_s for target_s, _ in TARGETS if timing.verdict(target_s, now=now) == Verdict.MISSED),
                [
                    TimelineEntry(
                        e.at,
                        e.type,
                        e.actor_type,
                        names.get(e.actor_id) if e.actor_type == "staff" and e.actor_id is not None else None,
                        (e.at - timing.raised_at).total_seconds(),
                    )
                    for e in events.get(timing.alarm_id, [])
                ],
            )
        )
    return SlaReport(
        period=period,
        since=since,
        until=now,
        overall=summarise(timings, now=now),
        by_municipality=by_municipality,
        by_operator=by_operator,
        missed=missed,
        missed_total=len(missed_timings),
        unknown_municipality=len(per_municipality.get(None, [])),
    )
