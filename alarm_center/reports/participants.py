"""Who the participants are and how their number moved: for EU-funded projects, the people in the
programme during the period by sex and age band; for everyone, participants at the end of each of
the last twelve months (the chart a coordinator shows the council).

Age is counted on the period's last day (or the day the report is made, for an unfinished month).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.reports.funder import STARTS, band_history
from registry.model import Resident

# (key, lowest age, highest age or None): the bands EU projects and the KWS module report in.
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("under_60", 0, 59),
    ("60_64", 60, 64),
    ("65_74", 65, 74),
    ("75_84", 75, 84),
    ("85_plus", 85, None),
)
AGE_UNKNOWN = "unknown"
SEXES: tuple[str, ...] = ("F", "M", AGE_UNKNOWN)  # "unknown": the sex is not recorded


@dataclass(frozen=True)
class SexAgeTable:
    """Participants during the period: age band -> sex -> people (every band and sex present)."""

    counts: dict[str, dict[str, int]]
    on: date  # the day ages are counted on

    @property
    def total(self) -> int:
        return sum(sum(by_sex.values()) for by_sex in self.counts.values())

    def by_sex(self, sex: str) -> int:
        return sum(by_sex[sex] for by_sex in self.counts.values())


def age_band(birth: date | None, on: date) -> str:
    if birth is None:
        return AGE_UNKNOWN
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    for key, lowest, highest in AGE_BANDS:
        if age >= lowest and (highest is None or age <= highest):
            return key
    return AGE_UNKNOWN  # a birth date after `on`: nothing to count it by


async def sex_age_table(session: AsyncSession, resident_ids: frozenset[int], on: date) -> SexAgeTable:
    counts = {key: dict.fromkeys(SEXES, 0) for key in (*(band[0] for band in AGE_BANDS), AGE_UNKNOWN)}
    ids = sorted(resident_ids)
    for chunk in (ids[i : i + 5000] for i in range(0, len(ids), 5000)):
        rows = await session.execute(select(Resident.sex, Resident.birth_date).where(Resident.id.in_(chunk)))
        for sex, birth in rows:
            counts[age_band(birth, on)][sex if sex in ("F", "M") else AGE_UNKNOWN] += 1
    return SexAgeTable(counts, on)


async def participants_at(
    session: AsyncSession, municipality_ids: Sequence[int], instants: Sequence[datetime]
) -> list[int]:
    """People with a band bound at each of `instants` (ascending), from one pass over the bands'
    history: a band swap keeps the person in."""
    rows = await band_history(session, municipality_ids, instants[-1])
    bound: dict[int, set[int]] = {}
    counts: list[int] = []
    pending = list(instants)

    def people() -> int:
        return sum(1 for bands in bound.values() if bands)

    for band_id, resident_id, type_, at in rows:
        while pending and at >= pending[0]:
            counts.append(people())
            pending.pop(0)
        if resident_id is None:
            continue
        if type_ in STARTS:
            bound.setdefault(resident_id, set()).add(band_id)
        else:
            bound.get(resident_id, set()).discard(band_id)
    counts.extend(people() for _ in pending)
    return counts
