"""The funder's figures over a quarter or a year, one line per month and one for the whole period,
as CSV for the funder's own spreadsheet (columns in docs/reports.md).

A month's line holds the same figures as that month's report (funder.py, the same computation) plus
the answer-time shares against the TSA targets. The period's line adds up what adds up (joined,
left, alarms, interventions, answered within a target), takes the first month's participants at
the start and the last month's at the end, and computes the shares over the whole period.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.quality import sla
from alarm_center.reports.funder import FunderFigures, funder_figures
from alarm_center.reports.funder_lines import funder_lines
from alarm_center.reports.labels import Lang
from alarm_center.reports.monthly import Month, alarms_raised, parse_month
from alarm_center.reports.scope import ReportError, ReportScope, municipality_scope

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
# Counted as at a moment, not added up over months.
AT_A_MOMENT = {"participants.at_start", "participants.at_end", "bands.in_use", "bands.in_stock"}
TARGETS = (60, 180)


def parse_period(text: str) -> tuple[str, list[Month]]:
    """'2026-Q4', '2026' or a month '2026-11': its name and months; ReportError for anything else."""
    text = text.strip()
    if quarter := _QUARTER.match(text):
        year, number = int(quarter.group(1)), int(quarter.group(2))
        months = [parse_month(f"{year:04d}-{m:02d}") for m in range(3 * number - 2, 3 * number + 1)]
        return text, months
    if year_match := _YEAR.match(text):
        year = int(year_match.group(1))
        return text, [parse_month(f"{year:04d}-{m:02d}") for m in range(1, 13)]
    try:
        return text, [parse_month(text)]
    except ReportError:
        raise ReportError(f"okres {text!r}: podaj kwartał (2026-Q4), rok (2026) albo miesiąc (2026-11)") from None


@dataclass(frozen=True)
class PeriodLine:
    name: str
    values: dict[str, int]
    # target seconds -> (answered within it, counted)
    answered: dict[int, tuple[int, int]]


async def _month_line(session: AsyncSession, ids: Sequence[int], month: Month, now: datetime) -> PeriodLine:
    start, end = month.bounds
    alarms = await alarms_raised(session, ids, start, end)
    figures = await funder_figures(session, ids, start, min(end, now), alarms)
    timings = await sla.load_timings(session, since=start, until=end, municipality_ids=list(ids))
    summary = sla.summarise(timings, now=now)
    answered = {t.target_s: (t.met, t.counted) for t in summary.within if t.target_s in TARGETS}
    return PeriodLine(str(month), _values(figures), answered)


def _values(figures: FunderFigures) -> dict[str, int]:
    return {line.key: line.value for line in funder_lines(figures, None, Lang.PL)}


def _total(name: str, lines: list[PeriodLine]) -> PeriodLine:
    values: dict[str, int] = {}
    for key in lines[0].values:
        if key in ("participants.at_start",):
            values[key] = lines[0].values[key]
        elif key in AT_A_MOMENT:
            values[key] = lines[-1].values[key]
        else:
            values[key] = sum(line.values[key] for line in lines)
    answered = {
        target: (
            sum(line.answered.get(target, (0, 0))[0] for line in lines),
            sum(line.answered.get(target, (0, 0))[1] for line in lines),
        )
        for target in TARGETS
    }
    return PeriodLine(name, values, answered)


def _share(met: int, counted: int, lang: Lang) -> str:
    if counted == 0:
        return ""
    text = f"{100 * met / counted:.1f}"
    return text.replace(".", ",") if lang == Lang.PL else text


async def period_csv(
    session: AsyncSession,
    *,
    period: str,
    now: datetime,
    municipality_code: str | None = None,
    scope: ReportScope | None = None,
    lang: Lang = Lang.PL,
) -> bytes:
    """One line per month and one for the period: `okres;<key>…`, the figures' keys as in the
    monthly CSV (`funder.…` without the prefix) and `answered_within_60s.share_pct`…"""
    name, months = parse_period(period)
    if scope is None:
        if municipality_code is None:
            raise TypeError("period_csv needs a municipality_code or a scope")
        scope = await municipality_scope(session, municipality_code)
    lines = [await _month_line(session, scope.municipality_ids, month, now) for month in months]
    lines.append(_total(name, lines))
    keys = list(lines[0].values)
    answer_keys = [
        key for target in TARGETS for key in (f"answered_within_{target}s", f"answered_within_{target}s.share_pct")
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if lang == Lang.PL else ",", lineterminator="\r\n")
    writer.writerow(["okres" if lang == Lang.PL else "period", *keys, "counted_for_answer_time", *answer_keys])
    for line in lines:
        counted = line.answered.get(TARGETS[0], (0, 0))[1]
        answer_cells = [
            cell
            for target in TARGETS
            for cell in (str(line.answered.get(target, (0, 0))[0]), _share(*line.answered.get(target, (0, 0)), lang))
        ]
        writer.writerow([line.name, *(str(line.values[key]) for key in keys), str(counted), *answer_cells])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
