"""What a funder asks for each month ("Korpus Wsparcia Seniorów", EU projects), each figure with
its one stated base: participants at the start, joined, left and at the end of the month; bands in
use and in stock; alarms by type; interventions by type; and the same figures for the month
before, for the comparison.

Participants are people, not bands: a band swapped for another is neither a leaving nor a joining.
Interventions are read from how each real alarm about a person (SOS, fall, call, missed check-in,
left zone, welfare call) was closed: one intervention per closed alarm, by its outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Result, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.lifecycle import LIFE, Outcome, alarm_class
from alarm_center.alarms.model import PLATFORM_KINDS, Alarm, AlarmStatus
from registry.model import Band, BandEvent, BandEventType, BandStatus, Resident

STARTS = frozenset({BandEventType.BOUND.value, BandEventType.SWAPPED_IN.value})
ENDS = frozenset({BandEventType.UNBOUND.value, BandEventType.SWAPPED_OUT.value, BandEventType.DECOMMISSIONED.value})

# Intervention type -> the outcomes that close an alarm with it, in the order a funder reads them.
INTERVENTIONS: dict[str, frozenset[str]] = {
    "operator_only": frozenset({Outcome.RESIDENT_OK.value, Outcome.CANCELLED_BY_RESIDENT.value}),
    "relative": frozenset({Outcome.RELATIVE_ATTENDED.value}),
    "responder": frozenset({Outcome.CARER_SENT.value}),
    "ambulance": frozenset({Outcome.AMBULANCE_CALLED.value, Outcome.NO_CONTACT_HELP_DISPATCHED.value}),
    "police_fire": frozenset({Outcome.FORCED_ENTRY.value}),
    "false_alarm": frozenset({Outcome.FALSE_ALARM.value, Outcome.TECHNICAL_FAULT.value}),
}
STILL_OPEN = "still_open"


@dataclass(frozen=True)
class ParticipantFlow:
    at_start: int
    joined: int
    left: int
    at_end: int
    during: int  # with a band bound at any time in the period


@dataclass(frozen=True)
class AlarmTypes:
    sos: int
    fall: int
    other_about_a_person: int  # calls to the centre, missed check-ins, zone exits, welfare calls
    technical: int
    test: int


@dataclass(frozen=True)
class FunderFigures:
    participants: ParticipantFlow
    bands_in_use: int
    bands_in_stock: int
    alarms: AlarmTypes
    # type -> count (every type present), and STILL_OPEN for alarms not closed when made.
    interventions: dict[str, int]


@dataclass(frozen=True)
class ParticipantSets:
    """Residents (ids) with a band bound at the period's start, at any time in it, at its end."""

    at_start: frozenset[int]
    during: frozenset[int]
    at_end: frozenset[int]

    @property
    def flow(self) -> ParticipantFlow:
        return ParticipantFlow(
            at_start=len(self.at_start),
            joined=len(self.during - self.at_start),
            left=len(self.during - self.at_end),
            at_end=len(self.at_end),
            during=len(self.during),
        )


async def band_history(
    session: AsyncSession, municipality_ids: Sequence[int], before: datetime
) -> Result[int, int | None, str, datetime]:
    """(band, resident, type, at) of every binding and unbinding of the municipalities' residents'
    bands before `before`, in order: the people in the programme at any moment are rebuilt from it."""
    return await session.execute(
        select(BandEvent.band_id, BandEvent.resident_id, BandEvent.type, BandEvent.at)
        .join(Resident, Resident.id == BandEvent.resident_id)
        .where(
            Resident.municipality_id.in_(list(municipality_ids)),
            BandEvent.type.in_(sorted(STARTS | ENDS)),
            BandEvent.at < before,
        )
        .order_by(BandEvent.at, BandEvent.id)
    )


async def participant_sets(
    session: AsyncSession, municipality_ids: Sequence[int], start: datetime, end: datetime
) -> ParticipantSets:
    """Residents with a band bound at `start`, joining and leaving in [start, end), bound at `end`."""
    rows = await band_history(session, municipality_ids, end)
    bound: dict[int, set[int]] = {}  # resident -> bands bound now
    at_start: set[int] | None = None
    during: set[int] = set()
    for band_id, resident_id, type_, at in rows:
        if resident_id is None:
            continue
        if at_start is None and at >= start:
            at_start = {r for r, bands in bound.items() if bands}
        if type_ in STARTS:
            bound.setdefault(resident_id, set()).add(band_id)
            if at >= start:
                during.add(resident_id)
        else:
            bound.get(resident_id, set()).discard(band_id)
    if at_start is None:
        at_start = {r for r, bands in bound.items() if bands}
    at_end = {r for r, bands in bound.items() if bands}
    return ParticipantSets(frozenset(at_start), frozenset(during | at_start), frozenset(at_end))


async def participant_flow(
    session: AsyncSession, municipality_ids: Sequence[int], start: datetime, end: datetime
) -> ParticipantFlow:
    return (await participant_sets(session, municipality_ids, start, end)).flow


def alarm_types(alarms: Iterable[Alarm]) -> AlarmTypes:
    counts: Counter[str] = Counter()
    for alarm in alarms:
        if alarm.kind in PLATFORM_KINDS:
            continue
        if alarm.is_test:
            counts["test"] += 1
        elif alarm.kind in ("sos", "fall"):
            counts[alarm.kind] += 1
        elif alarm_class(alarm.kind) == LIFE:
            counts["other"] += 1
        else:
            counts["technical"] += 1
    return AlarmTypes(counts["sos"], counts["fall"], counts["other"], counts["technical"], counts["test"])


def interventions(real: Iterable[Alarm]) -> dict[str, int]:
    """Real alarms about a person by how they were closed (STILL_OPEN: not yet)."""
    by_outcome = {outcome: kind for kind, outcomes in INTERVENTIONS.items() for outcome in outcomes}
    counts = dict.fromkeys([*INTERVENTIONS, STILL_OPEN], 0)
    for alarm in real:
        if alarm.is_test or alarm.kind in PLATFORM_KINDS or alarm_class(alarm.kind) != LIFE:
            continue
        if alarm.status not in (AlarmStatus.RESOLVED, AlarmStatus.CANCELLED):
            counts[STILL_OPEN] += 1
        elif (kind := by_outcome.get(alarm.outcome or "")) is not None:
            counts[kind] += 1
    return counts


async def band_stock(session: AsyncSession, municipality_ids: Sequence[int]) -> tuple[int, int]:
    """(in use: active and bound to one of the municipalities' residents, in stock: all unbound in
    stock). Bands in stock belong to the centre, not to a municipality: the same in every report."""
    in_use = await session.scalar(
        select(func.count())
        .select_from(Band)
        .join(Resident, Resident.id == Band.resident_id)
        .where(Resident.municipality_id.in_(list(municipality_ids)), Band.status == BandStatus.ACTIVE.value)
    )
    in_stock = await session.scalar(
        select(func.count()).select_from(Band).where(Band.status == BandStatus.STOCK.value, Band.is_canary.is_(False))
    )
    return int(in_use or 0), int(in_stock or 0)


async def funder_figures(
    session: AsyncSession, municipality_ids: Sequence[int], start: datetime, end: datetime, alarms: list[Alarm]
) -> FunderFigures:
    """`alarms`: the municipalities' alarms raised in [start, end), tests included."""
    in_use, in_stock = await band_stock(session, municipality_ids)
    real = [a for a in alarms if not a.is_test]
    return FunderFigures(
        participants=await participant_flow(session, municipality_ids, start, end),
        bands_in_use=in_use,
        bands_in_stock=in_stock,
        alarms=alarm_types(alarms),
        interventions=interventions(real),
    )
