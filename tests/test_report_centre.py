"""The report beyond one municipality's month: the whole centre's report (every municipality the
person asking may see, each figure over all of them at once), the year to date beside the month,
participants by age band and sex (EU projects), and participants over the last twelve months.

October's fixture (tests/test_monthly_report.py): the home municipality has Helena (band since
15 September) and Zofia (10–20 October) and nine October alarms; the away municipality has Ewa
(since 15 September) and one October alarm."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.reports.csv_export import report_csv
from alarm_center.reports.monthly import MonthlyReport, monthly_report, parse_month
from alarm_center.reports.participants import age_band
from alarm_center.reports.pdf import report_pdf
from alarm_center.reports.scope import centre_scope
from core.settings import ReportSettings
from registry.model import Resident
from tests.support.processes import run_opaska_command
from tests.support.require import need_program
from tests.test_monthly_report import (
    MADE_AT,
    Month,
    _get,
    clock,
    console,
    october,
    parse_csv,
    pdf_text,
)

__all__ = ["clock", "console", "october"]  # fixtures of the monthly report's tests
pytestmark = pytest.mark.asyncio
COVER = ReportSettings(centre_name="Centrum Teleopieki MOPS Testowo", programme="Korpus Wsparcia Seniorów 2026")


async def _report(sessions: async_sessionmaker[AsyncSession], month: str, **scope: Any) -> MonthlyReport:
    async with sessions() as session:
        if "centre" in scope:
            scope = {"scope": await centre_scope(session, COVER.centre_name, scope.pop("centre"))}
        return await monthly_report(session, month=parse_month(month), now=MADE_AT, cover=COVER, **scope)


async def _describe(sessions: async_sessionmaker[AsyncSession], last_name: str, sex: str | None, born: date) -> None:
    async with sessions() as session, session.begin():
        resident = (await session.execute(select(Resident).where(Resident.last_name == last_name))).scalar_one()
        resident.sex, resident.birth_date = sex, born


async def test_the_whole_centre_adds_up_its_municipalities(
    october: Month, sessions: async_sessionmaker[AsyncSession]
) -> None:
    home = await _report(sessions, "2026-10", municipality_code=october.code)
    centre = await _report(sessions, "2026-10", centre=None)
    assert centre.is_centre
    assert centre.municipality_name == COVER.centre_name
    assert len(centre.municipalities) == 2
    assert (home.alarms_total, centre.alarms_total) == (9, 10)
    # People: Helena and Ewa at the end; Zofia too during the month.
    assert (centre.participants_at_end, centre.participants_during) == (2, 3)
    assert centre.funder is not None
    assert home.funder is not None
    assert centre.funder.alarms.sos == home.funder.alarms.sos + 1
    assert centre.answer.alarms == home.answer.alarms + 1
    figures = parse_csv(report_csv(centre))
    assert figures["municipality.code"] == "centrum"
    assert figures["funder.participants.at_end"] == "2"
    assert figures["programme"] == COVER.programme
    # A scope of only some municipalities (a supervisor's): just those.
    only_home = await _report(sessions, "2026-10", centre=lambda m: m == october.home.municipality_id)
    assert only_home.alarms_total == 9
    assert only_home.municipalities == ["Gmina Testowa"]


async def test_the_year_to_date_beside_the_month(october: Month, sessions: async_sessionmaker[AsyncSession]) -> None:
    report = await _report(sessions, "2026-10", municipality_code=october.code)
    assert report.funder is not None
    assert report.funder_year is not None
    # September's SOS (30 September, 23:59:50 local) counts in the year, not in October.
    assert (report.funder.alarms.sos, report.funder_year.alarms.sos) == (5, 6)
    year = report.funder_year.participants
    # On 1 January nobody; Helena and Zofia joined this year; Zofia left.
    assert (year.at_start, year.joined, year.left, year.at_end) == (0, 2, 1, 1)
    figures = parse_csv(report_csv(report))
    assert figures["funder.alarms.sos.year_to_date"] == "6"
    assert figures["funder.participants.joined.year_to_date"] == "2"
    # January: the year so far is the month itself.
    january = await _report(sessions, "2026-01", municipality_code=october.code)
    assert january.funder_year == january.funder


async def test_participants_by_age_band_and_sex(october: Month, sessions: async_sessionmaker[AsyncSession]) -> None:
    # Ages on 31 October 2026: Helena 85 (born 14.03.1941); Zofia 64 the day before her 65th
    # birthday, her sex not recorded.
    await _describe(sessions, "Kowalska", "F", date(1941, 3, 14))
    await _describe(sessions, "Wiśniewska", None, date(1961, 11, 1))
    report = await _report(sessions, "2026-10", municipality_code=october.code)
    table = report.sex_age
    assert table is not None
    assert table.on == date(2026, 10, 31)
    assert table.counts["85_plus"] == {"F": 1, "M": 0, "unknown": 0}
    assert table.counts["60_64"] == {"F": 0, "M": 0, "unknown": 1}
    assert table.total == report.participants_during == 2
    assert (table.by_sex("F"), table.by_sex("M"), table.by_sex("unknown")) == (1, 0, 1)
    figures = parse_csv(report_csv(report))
    assert figures["participants.age.85_plus.F"] == "1"
    assert figures["participants.age.unknown.M"] == "0"
    text = pdf_text(report_pdf(report))
    assert "85 lat i więcej" in text
    assert "płeć nieznana" in text
    assert "wiek na 31.10.2026" in text


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(1966, 11, 1), "under_60"),  # 59 the day before the 60th birthday
        (date(1966, 10, 31), "60_64"),  # 60 on the day
        (date(1961, 10, 31), "65_74"),
        (date(1951, 11, 1), "65_74"),  # 74
        (date(1951, 10, 31), "75_84"),
        (date(1941, 10, 31), "85_plus"),
        (None, "unknown"),
        (date(2027, 1, 1), "unknown"),  # born after the day: not counted by an age
    ],
)
async def test_age_bands_turn_on_the_birthday(born: date | None, band: str) -> None:
    assert age_band(born, date(2026, 10, 31)) == band


async def test_participants_over_the_last_twelve_months(
    october: Month, sessions: async_sessionmaker[AsyncSession]
) -> None:
    report = await _report(sessions, "2026-10", municipality_code=october.code)
    months = [month for month, _ in report.participants_by_month]
    assert months[0] == "2025-11"
    assert months[-1] == "2026-10"
    assert len(months) == 12
    # Helena from 15 September; Zofia came and went within October.
    assert [count for _, count in report.participants_by_month] == [0] * 10 + [1, 1]
    # The unfinished November (made on 5 November) counts now; December has not begun.
    november = await _report(sessions, "2026-11", municipality_code=october.code)
    assert november.participants_by_month[-1] == ("2026-11", 1)
    december = await _report(sessions, "2026-12", municipality_code=october.code)
    assert december.participants_by_month[-1] == ("2026-11", 1)
    figures = parse_csv(report_csv(report))
    assert figures["participants.at_end_of.2026-09"] == "1"


async def test_the_centre_report_as_pages(
    october: Month, sessions: async_sessionmaker[AsyncSession], artifacts: Path
) -> None:
    """test-artifacts/report-centre-N.png, for a person to look at."""
    await _describe(sessions, "Kowalska", "F", date(1941, 3, 14))
    centre = await _report(sessions, "2026-10", centre=None)
    content = report_pdf(centre)
    text = pdf_text(content)
    assert "Centrum Teleopieki MOPS Testowo" in text
    assert "Całe centrum: 2 gmin(y)" in text
    assert "Program: Korpus Wsparcia Seniorów 2026" in text
    assert "Od 1.01" in text
    assert "Uczestnicy na koniec 10.2026: 2; na koniec 11.2025: 0 (+2)." in text
    pdf = artifacts / "report-centre.pdf"
    pdf.write_bytes(content)
    for old in artifacts.glob("report-centre-*.png"):
        old.unlink()
    done = await asyncio.to_thread(
        subprocess.run,
        [need_program("pdftoppm"), "-png", "-r", "80", str(pdf), str(artifacts / "report-centre")],
        check=False,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    assert 1 <= len(list(artifacts.glob("report-centre-*.png"))) <= 5


async def test_the_api_gives_the_centre_the_user_may_see(october: Month, console: Any) -> None:
    supervisor, admin = october.staff["supervisor"], october.staff["administrator"]
    mine = await _get(console, supervisor, "/api/reports/monthly", centre="true", month="2026-10", format="json")
    assert mine.status_code == 200, mine.text
    assert mine.json()["alarms_total"] == 9
    assert len(mine.json()["municipalities"]) == 1
    assert "year_to_date" in mine.json()["funder_lines"][0]
    everything = await _get(console, admin, "/api/reports/monthly", centre="true", month="2026-10")
    assert everything.headers["content-disposition"] == 'attachment; filename="raport-centrum-2026-10.csv"'
    assert parse_csv(everything.content)["alarms.total"] == "10"
    both = await _get(console, admin, "/api/reports/monthly", centre="true", municipality=october.code, month="2026-10")
    neither = await _get(console, admin, "/api/reports/monthly", month="2026-10")
    assert both.status_code == neither.status_code == 422
    assert "centre=true" in neither.json()["detail"]
    period = await _get(console, admin, "/api/reports/period", centre="true", period="2026-Q4")
    assert period.status_code == 200, period.text
    assert 'filename="wskazniki-centrum-2026-Q4.csv"' in period.headers["content-disposition"]


async def test_the_command_line_makes_the_centre_report(october: Month, database_url: str, tmp_path: Path) -> None:
    made = await run_opaska_command(database_url, "report", "--centre", "--month", "2026-10")
    assert made.returncode == 0, made.stderr
    assert "alarms.total;Alarmy (bez testowych);10" in made.stdout
    neither = await run_opaska_command(database_url, "report", "--month", "2026-10")
    assert neither.returncode == 2
    assert "--centre" in neither.stderr
    out = tmp_path / "q4.csv"
    export = await run_opaska_command(
        database_url, "report-export", "--centre", "--period", "2026-Q4", "--out", str(out)
    )
    assert export.returncode == 0, export.stderr
    assert out.read_bytes().decode("utf-8-sig").splitlines()[-1].startswith("2026-Q4;")
