"""The monthly report: a month of alarms with known timings, raised through intake and moved through
the lifecycle at set times, across the month's edges and the night the clocks go back (Europe/Warsaw,
25 October 2026, 03:00 CEST -> 02:00 CET). Every figure of the CSV is checked; the PDF carries the
same totals in text with Polish letters; the API and the CLI give the same report."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Actor, Move, Outcome, apply_move
from alarm_center.alarms.model import AlarmKind
from alarm_center.alarms.technical import TechnicalClear, TechnicalRaise, clear_technical, raise_technical
from alarm_center.live import AlarmFeed
from alarm_center.notify.model import Notification
from alarm_center.reports.csv_export import report_csv
from alarm_center.reports.labels import Lang
from alarm_center.reports.monthly import ReportError, monthly_report, parse_month
from alarm_center.reports.pdf import report_pdf
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from registry import service
from registry.bands import unbind_band
from registry.model import Band, Municipality
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.care import alarm_story
from tests.support.processes import run_opaska_command
from tests.support.require import need_program
from tests.support.seed import SeededBand, seed_resident_with_band

# The report is made on 5 November 2026.
MADE_AT = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
POLISH = "ąćęłńóśźż"


def utc(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def after(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utc(9, 15, 8))


@dataclass
class Month:
    code: str
    home: SeededBand
    away: SeededBand
    operator: StaffMember
    staff: dict[str, StaffMember]
    ids: dict[str, int]


async def _notify(
    sessions: async_sessionmaker[AsyncSession], alarm_id: int, channel: str, status: str, at: datetime
) -> None:
    async with sessions() as session, session.begin():
        session.add(
            Notification(
                alarm_id=alarm_id,
                contact_id=None,
                channel=channel,
                to_phone="+48601234567",
                template="sos",
                body="SOS",
                status=status,
                attempts=1,
                created_at=at,
                updated_at=at,
            )
        )


@pytest_asyncio.fixture
async def october(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Month:
    # Helena's band is bound on 15 September and stays; Zofia's from 10 to 20 October.
    home = await seed_resident_with_band(sessions, clock)
    away = await seed_resident_with_band(sessions, clock, first_name="Ewa", last_name="Obca")
    clock.advance((utc(10, 10, 8) - clock.now()).total_seconds())
    async with sessions() as session, session.begin():
        zofia = await service.create_resident(
            session, clock, municipality_id=home.municipality_id, first_name="Zofia", last_name="Wiśniewska"
        )
        registered = await service.register_band(session, clock, serial="B-zofia-1", model="test", resident_id=zofia.id)
    clock.advance((utc(10, 20, 8) - clock.now()).total_seconds())
    async with sessions() as session, session.begin():
        await unbind_band(session, clock, band_id=registered.band.id)
    clock.advance((MADE_AT - clock.now()).total_seconds())
    async with sessions() as session, session.begin():
        band = await session.get(Band, home.band_id)
        assert band is not None
        # Heard a minute ago, worn, charged: a healthy band.
        band.last_seen_at, band.online, band.worn, band.battery_pct = MADE_AT - timedelta(minutes=1), True, True, 80
        municipality = await session.get(Municipality, home.municipality_id)
        assert municipality is not None
        code = municipality.code
    mine = [home.municipality_id]
    staff = {
        "ola": await create_staff(sessions, clock, role="operator", municipality_ids=mine, full_name="Ola Nowicka"),
        "supervisor": await create_staff(sessions, clock, role="supervisor", municipality_ids=mine),
        "away_supervisor": await create_staff(
            sessions, clock, role="supervisor", municipality_ids=[away.municipality_id]
        ),
        "administrator": await create_staff(sessions, clock, role="administrator"),
    }
    ola = staff["ola"].id
    ids: dict[str, int] = {}

    async def life(
        name: str,
        kind: AlarmKind,
        raised: datetime,
        claim_s: float | None,
        close: tuple[float, Outcome] | None,
        band: SeededBand = home,
    ) -> None:
        ids[name] = await alarm_story(
            sessions,
            band,
            kind,
            raised=raised,
            claims=[] if claim_s is None else [(after(raised, claim_s), ola)],
            resolve=None if close is None else (after(raised, close[0]), close[1]),
        )

    # 30 September 23:59:50 in Warsaw, claimed in October: September's.
    await life("september", AlarmKind.SOS, utc(9, 30, 21, 59, 50), 30, (300, Outcome.FALSE_ALARM))
    # 1 October 00:00:30 in Warsaw: October's first. 20 s.
    await life("first", AlarmKind.SOS, utc(9, 30, 22, 0, 30), 20, (600, Outcome.FALSE_ALARM))
    # 10 October: 250 s, misses both targets.
    await life("slow", AlarmKind.SOS, utc(10, 10, 10), 250, (1800, Outcome.CARER_SENT))
    # 12 October: the resident cancels after 15 s, before anyone had to answer.
    ids["cancelled"] = await alarm_story(
        sessions, home, AlarmKind.SOS, raised=utc(10, 12, 9), cancel=after(utc(10, 12, 9), 15)
    )
    # 15 October: a technician's test alarm, counted apart.
    ids["test"] = await alarm_story(
        sessions,
        home,
        AlarmKind.SOS,
        raised=utc(10, 15, 9),
        claims=[(utc(10, 15, 9, 5), ola)],
        resolve=(utc(10, 15, 9, 10), Outcome.FALSE_ALARM),
        test=True,
    )
    # 25 October 02:59:30 CEST, claimed at 02:00:20 CET: 50 s (a wall clock would say minus 59 minutes).
    await life("dst_fall", AlarmKind.FALL, utc(10, 25, 0, 59, 30), 50, (1200, Outcome.AMBULANCE_CALLED))
    # 25 October 02:30 CET, the second 02:30 of the night: 75 s.
    await life("dst_sos", AlarmKind.SOS, utc(10, 25, 1, 30), 75, (900, Outcome.RELATIVE_ATTENDED))
    # 31 October 23:59 CET, claimed at 00:02 on 1 November: October's, exactly 180 s.
    await life("last", AlarmKind.SOS, utc(10, 31, 22, 59), 180, (600, Outcome.RESIDENT_OK))
    # 1 November 00:00:10 CET: November's.
    await life("november", AlarmKind.SOS, utc(10, 31, 23, 0, 10), 40, (500, Outcome.RESIDENT_OK))
    # Another municipality's October alarm: not in this report.
    await life("away", AlarmKind.SOS, utc(10, 20, 10), 500, (900, Outcome.FALSE_ALARM), band=away)

    # Technical: offline for 3 h (cleared by itself), battery low for 1.5 h (charged), not worn still open.
    tech = [TechnicalRaise(home.band_id, home.resident_id, home.municipality_id, {})]
    async with sessions() as session, session.begin():
        offline = (await raise_technical(session, kind=AlarmKind.BAND_OFFLINE, at=utc(10, 5, 8), alarms=tech))[
            home.band_id
        ]
    async with sessions() as session, session.begin():
        await clear_technical(session, at=utc(10, 5, 11), alarms=[TechnicalClear(offline, "raised", "back online")])
    async with sessions() as session, session.begin():
        battery = (await raise_technical(session, kind=AlarmKind.BATTERY_LOW, at=utc(10, 20, 10), alarms=tech))[
            home.band_id
        ]
    async with sessions() as session, session.begin():
        await apply_move(
            session,
            at=utc(10, 20, 11, 30),
            alarm_id=battery,
            move=Move.RESOLVE,
            actor=Actor.staff(ola),
            outcome=Outcome.BAND_CHARGED,
        )
    async with sessions() as session, session.begin():
        await raise_technical(session, kind=AlarmKind.NOT_WORN, at=utc(10, 30, 12), alarms=tech)

    # Notifications to relatives: two about the fall, one about the slow SOS; one in November.
    await _notify(sessions, ids["dst_fall"], "sms", "delivered", utc(10, 25, 1, 0))
    await _notify(sessions, ids["dst_fall"], "voice", "no_answer", utc(10, 25, 1, 2))
    await _notify(sessions, ids["slow"], "sms", "failed", utc(10, 10, 10, 3))
    await _notify(sessions, ids["november"], "sms", "delivered", utc(10, 31, 23, 1))
    return Month(code, home, away, staff["ola"], staff, ids)


def parse_csv(content: bytes) -> dict[str, str]:
    assert content.startswith("\ufeff".encode()), "Polish Excel needs the BOM"
    text = content.decode("utf-8-sig")
    assert "\r\n" in text
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = next(reader)
    assert header == ["klucz", "opis", "wartość"]
    figures: dict[str, str] = {}
    for key, label, value in reader:
        assert label, key
        assert key not in figures, f"{key} twice"
        figures[key] = value
    return figures


# Every figure of October that is not zero, or is not a count; every other figure must be "0".
OCTOBER_DAYS = {f"day.2026-10-{d:02d}.{k}" for d in range(1, 32) for k in ("life", "technical")}


def october_expected(code: str) -> dict[str, str]:
    return {
        "municipality.code": code,
        "municipality.name": "Gmina Testowa",
        "month": "2026-10",
        "period.start": "2026-10-01 00:00:00",
        "period.end": "2026-11-01 00:00:00",
        "generated_at": "2026-11-05 10:00:00",
        "participants.at_end": "1",  # Helena
        "participants.during": "2",  # and Zofia, 10 to 20 October
        # The funder's figures: people, not bands; each with its base; September beside them.
        "funder.participants.at_start": "1",  # Helena, since 15 September
        "funder.participants.joined": "1",  # Zofia, 10 October...
        "funder.participants.left": "1",  # ...to 20 October
        "funder.participants.at_end": "1",
        "funder.participants.joined.previous_month": "1",  # Helena joined in September
        "funder.participants.at_end.previous_month": "1",
        "funder.bands.in_use": "1",
        "funder.bands.in_use.previous_month": "1",  # the bands are counted as they are now
        "funder.bands.in_stock": "1",  # Zofia's, back in stock
        "funder.bands.in_stock.previous_month": "1",
        "funder.alarms.sos": "5",
        "funder.alarms.sos.previous_month": "1",  # 30 September 23:59:50
        "funder.alarms.fall": "1",
        "funder.alarms.technical": "3",
        "funder.alarms.test": "1",
        # The six real alarms about a person, by how they were closed.
        "funder.interventions.operator_only": "2",  # the resident's cancel, "last" (OK after a call)
        "funder.interventions.relative": "1",
        "funder.interventions.responder": "1",
        "funder.interventions.ambulance": "1",
        "funder.interventions.false_alarm": "1",
        "funder.interventions.false_alarm.previous_month": "1",
        # From 1 January: nobody then; Helena and Zofia joined, Zofia left; September's SOS too.
        "funder.participants.joined.year_to_date": "2",
        "funder.participants.left.year_to_date": "1",
        "funder.participants.at_end.year_to_date": "1",
        "funder.bands.in_use.year_to_date": "1",
        "funder.bands.in_stock.year_to_date": "1",
        "funder.alarms.sos.year_to_date": "6",
        "funder.alarms.fall.year_to_date": "1",
        "funder.alarms.technical.year_to_date": "3",
        "funder.alarms.test.year_to_date": "1",
        "funder.interventions.operator_only.year_to_date": "2",
        "funder.interventions.relative.year_to_date": "1",
        "funder.interventions.responder.year_to_date": "1",
        "funder.interventions.ambulance.year_to_date": "1",
        "funder.interventions.false_alarm.year_to_date": "2",
        # Helena and Zofia in October; neither's sex nor birth date recorded.
        "participants.age.unknown.unknown": "2",
        # At the end of each of the last twelve months: Helena since September.
        "participants.at_end_of.2026-09": "1",
        "participants.at_end_of.2026-10": "1",
        "bands.total": "1",
        "bands.state.ok": "1",
        # first, slow, cancelled, dst_sos, last (sos); dst_fall (fall); three technical.
        "alarms.total": "9",
        "alarms.test": "1",
        "alarms.kind.sos": "5",
        "alarms.kind.fall": "1",
        "alarms.kind.band_offline": "1",
        "alarms.kind.battery_low": "1",
        "alarms.kind.not_worn": "1",
        "alarms.outcome.sos.false_alarm": "1",
        "alarms.outcome.sos.carer_sent": "1",
        "alarms.outcome.sos.cancelled_by_resident": "1",
        "alarms.outcome.sos.relative_attended": "1",
        "alarms.outcome.sos.resident_ok_after_call": "1",
        "alarms.outcome.fall.ambulance_called": "1",
        "alarms.outcome.band_offline.auto_cleared": "1",
        "alarms.outcome.battery_low.band_charged": "1",
        "alarms.outcome.not_worn.open": "1",
        "answer.alarms": "6",
        "answer.claimed": "5",  # 20, 50, 75, 180, 250 s
        "answer.unanswered": "1",
        "answer.within_60s.counted": "5",  # the cancel at 15 s is not counted
        "answer.within_60s.met": "2",
        "answer.within_60s.missed": "3",
        "answer.within_60s.share_pct": "40,0",
        "answer.within_60s.required_pct": "97,5",
        "answer.within_60s.achieved": "nie",
        "answer.within_180s.counted": "5",
        "answer.within_180s.met": "4",  # 180 s exactly meets it
        "answer.within_180s.missed": "1",
        "answer.within_180s.share_pct": "80,0",
        "answer.within_180s.required_pct": "99,0",
        "answer.within_180s.achieved": "nie",
        "answer.median_claim_s": "75,0",
        "answer.p90_claim_s": "250,0",
        "answer.max_claim_s": "250,0",
        "answer.median_resolve_s": "750,0",  # 15, 600, 600, 900, 1200, 1800
        "answer.bucket.le_30": "1",
        "answer.bucket.le_60": "1",
        "answer.bucket.le_120": "1",
        "answer.bucket.le_180": "1",
        "answer.bucket.le_600": "1",
        "technical.band_offline.raised": "1",
        "technical.band_offline.closed": "1",
        "technical.band_offline.auto_cleared": "1",
        "technical.band_offline.total_hours": "3,00",
        "technical.band_offline.median_hours": "3,00",
        "technical.band_offline.max_hours": "3,00",
        "technical.battery_low.raised": "1",
        "technical.battery_low.closed": "1",
        "technical.battery_low.total_hours": "1,50",
        "technical.battery_low.median_hours": "1,50",
        "technical.battery_low.max_hours": "1,50",
        "technical.not_worn.raised": "1",
        "technical.not_worn.still_open": "1",
        "technical.not_worn.total_hours": "0,00",
        "technical.not_worn.median_hours": "",
        "technical.not_worn.max_hours": "",
        "notifications.total": "3",
        "notifications.sms.total": "2",
        "notifications.sms.delivered": "1",
        "notifications.sms.failed": "1",
        "notifications.voice.total": "1",
        "notifications.voice.no_answer": "1",
        "day.2026-10-01.life": "1",
        "day.2026-10-10.life": "1",
        "day.2026-10-12.life": "1",
        "day.2026-10-25.life": "2",  # both in the night of the change, in local days
        "day.2026-10-31.life": "1",
        "day.2026-10-05.technical": "1",
        "day.2026-10-20.technical": "1",
        "day.2026-10-30.technical": "1",
    }


@pytest.mark.asyncio
async def test_every_figure_of_october(october: Month, sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        report = await monthly_report(
            session, municipality_code=october.code, month=parse_month("2026-10"), now=MADE_AT
        )
    figures = parse_csv(report_csv(report))
    expected = october_expected(october.code)
    assert figures.keys() >= OCTOBER_DAYS
    assert not any(key.startswith("day.2026-11") or key.startswith("day.2026-09") for key in figures)
    for key, value in figures.items():
        assert value == expected.get(key, "0"), f"{key}: {value!r}, expected {expected.get(key, '0')!r}"
    assert expected.keys() <= figures.keys()
    # Funders' report: nobody's name, address or phone, no band serial.
    everything = report_csv(report).decode("utf-8-sig") + report_csv(report, Lang.EN).decode()
    for personal in ("Helena", "Kowalska", "Zofia", "Wiśniewska", "Legnicka", "601", "+48", october.home.serial):
        assert personal not in everything


@pytest.mark.asyncio
async def test_the_neighbouring_months_hold_what_crossed_the_edge(
    october: Month, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        september = parse_csv(
            report_csv(
                await monthly_report(session, municipality_code=october.code, month=parse_month("2026-09"), now=MADE_AT)
            )
        )
        november = parse_csv(
            report_csv(
                await monthly_report(session, municipality_code=october.code, month=parse_month("2026-11"), now=MADE_AT)
            )
        )
    assert (september["alarms.total"], september["answer.claimed"], september["answer.median_claim_s"]) == (
        "1",
        "1",
        "30,0",
    )
    assert (november["alarms.total"], november["answer.median_claim_s"], november["notifications.total"]) == (
        "1",
        "40,0",
        "1",
    )
    assert november["day.2026-11-01.life"] == "1"
    assert september["participants.at_end"] == "1"  # Helena since 15 September; Zofia not yet
    assert november["period.start"] == "2026-11-01 00:00:00"


@pytest.mark.asyncio
async def test_english_csv(october: Month, sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        report = await monthly_report(
            session, municipality_code=october.code, month=parse_month("2026-10"), now=MADE_AT
        )
    text = report_csv(report, Lang.EN).decode("utf-8-sig")
    rows = {row[0]: row for row in csv.reader(io.StringIO(text), delimiter=";")}
    assert rows["key"] == ["key", "label", "value"]
    assert rows["answer.within_60s.share_pct"][2] == "40.0"
    assert rows["answer.within_60s.achieved"][2] == "no"
    assert rows["alarms.outcome.fall.ambulance_called"][1] == "Fall: Emergency services called (112)"


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages)


@pytest.mark.asyncio
async def test_the_pdf_carries_the_totals_in_polish(
    october: Month, sessions: async_sessionmaker[AsyncSession], artifacts: Path
) -> None:
    async with sessions() as session:
        report = await monthly_report(
            session, municipality_code=october.code, month=parse_month("2026-10"), now=MADE_AT
        )
    content = report_pdf(report)
    assert content.startswith(b"%PDF")
    (artifacts / "report-october.pdf").write_bytes(content)
    text = pdf_text(content)
    for letter in POLISH:
        assert letter in text, f"{letter} did not come back out of the PDF"
    lines = text.splitlines()

    def line_with(words: str) -> str:
        found = [line for line in lines if words in line]
        assert found, f"no line with {words!r} in:\n{text}"
        return found[0]

    assert "Gmina Testowa" in text
    # The month in words with its days, and when it was made in the centre's time with the zone.
    assert "Miesiąc: październik 2026 (1–31.10.2026)" in text
    assert "Wygenerowano: 5.11.2026 10:00 CET." in text
    assert line_with("Alarmy (bez testowych)").endswith("9")
    assert line_with("Alarmy testowe").endswith("1")
    assert line_with("Uczestnicy z aktywną opaską na koniec miesiąca").endswith("1")
    assert line_with("Uczestnicy z aktywną opaską w ciągu miesiąca").endswith("2")
    assert line_with("Powiadomienia razem").endswith("3")
    assert "40,0 % (2/5)" in text
    assert "80,0 % (4/5)" in text
    assert line_with("Mediana czasu przyjęcia").endswith("75,0")
    assert line_with("Wezwano pogotowie (112)")
    assert "Raport nie zawiera żadnych danych osobowych mieszkańców." in text
    # Each chart says in one line what it shows, from the figures.
    assert "Najwięcej alarmów 25.10 (2); dni bez żadnego alarmu: 23 z 31." in text
    assert "≤ 60 s: 2/5 (40,0 %); ≤ 180 s: 4/5 (80,0 %)." in text
    assert "Żaden wynik nie przeważa: 6 wyników po 1 z 6 alarmów SOS i upadków." in text
    for personal in ("Helena", "Kowalska", "Zofia", "Legnicka"):
        assert personal not in text
    english = pdf_text(report_pdf(report, Lang.EN))
    assert "Telecare monthly report" in english
    assert "Month: October 2026 (1–31.10.2026)" in english

    # A month not over yet says so, and counts participants on that day, not "at the month's end".
    async with sessions() as session:
        november = await monthly_report(
            session, municipality_code=october.code, month=parse_month("2026-11"), now=MADE_AT
        )
    unfinished = pdf_text(report_pdf(november))
    assert "Miesiąc: listopad 2026, stan na 5.11.2026 10:00" in unfinished
    assert "Uczestnicy z aktywną opaską na dzień 5.11.2026" in unfinished
    assert "na koniec miesiąca" not in unfinished
    assert "Emergency services called (112)" in english


@pytest.mark.asyncio
async def test_the_pdf_pages_as_pictures(
    october: Month, sessions: async_sessionmaker[AsyncSession], artifacts: Path
) -> None:
    """Rendered for a person to look at (test-artifacts/report-october-N.png); here, that they render."""
    async with sessions() as session:
        report = await monthly_report(
            session, municipality_code=october.code, month=parse_month("2026-10"), now=MADE_AT
        )
    pdf = artifacts / "report-october.pdf"
    pdf.write_bytes(report_pdf(report))
    for old in artifacts.glob("report-october-*.png"):
        old.unlink()
    pdftoppm = need_program("pdftoppm")  # poppler-utils, make system-deps
    done = await asyncio.to_thread(
        subprocess.run,
        [pdftoppm, "-png", "-r", "80", str(pdf), str(artifacts / "report-october")],
        check=False,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    pages = sorted(artifacts.glob("report-october-*.png"))
    assert 1 <= len(pages) <= 4


@pytest.mark.asyncio
async def test_a_month_with_nothing_is_an_empty_valid_report(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session:
        municipality = await session.get(Municipality, seeded.municipality_id)
        assert municipality is not None
        report = await monthly_report(
            session, municipality_code=municipality.code, month=parse_month("2027-02"), now=MADE_AT
        )
    figures = parse_csv(report_csv(report))
    assert figures["alarms.total"] == figures["answer.alarms"] == figures["notifications.total"] == "0"
    assert figures["answer.within_60s.share_pct"] == figures["answer.within_60s.achieved"] == ""
    assert figures["answer.median_claim_s"] == ""
    assert len([key for key in figures if key.startswith("day.")]) == 28 * 2
    text = pdf_text(report_pdf(report))
    assert "W tym miesiącu nie było alarmów." in text
    assert "2027-02" in text


@pytest.mark.asyncio
@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026/11", "11-2026", "2026-1", "", "1999-12", "x"])
async def test_malformed_months(month: str) -> None:
    with pytest.raises(ReportError, match="miesiąc"):
        parse_month(month)


@pytest.mark.asyncio
async def test_an_unknown_municipality(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        with pytest.raises(ReportError, match="nie ma gminy o kodzie 'nowhere'"):
            await monthly_report(session, municipality_code="nowhere", month=parse_month("2026-10"), now=MADE_AT)


@pytest_asyncio.fixture
async def console(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Any]:
    yield create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)


async def _get(app: Any, member: StaffMember, url: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        await log_in(http, member)
        return await http.get(url, params=params)


@pytest.mark.asyncio
async def test_the_api_gives_the_same_report(october: Month, console: Any) -> None:
    supervisor = october.staff["supervisor"]
    query = {"municipality": october.code, "month": "2026-10"}
    answer = await _get(console, supervisor, "/api/reports/monthly", **query)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == f'attachment; filename="raport-{october.code}-2026-10.csv"'
    figures = parse_csv(answer.content)
    expected = october_expected(october.code)
    for key, value in figures.items():
        assert value == expected.get(key, "0"), key

    pdf = await _get(console, supervisor, "/api/reports/monthly", format="pdf", **query)
    assert pdf.headers["content-type"] == "application/pdf"
    assert "Alarmy (bez testowych)" in pdf_text(pdf.content)

    data = (await _get(console, supervisor, "/api/reports/monthly", format="json", lang="en", **query)).json()
    assert data["alarms_total"] == 9
    assert data["answer"]["targets"][0] == {
        "target_s": 60, "required_share": 0.975, "counted": 5, "met": 2, "missed": 3, "share": 0.4, "achieved": False,
    }  # fmt: skip
    assert data["outcomes"]["fall"]["ambulance_called"] == 1

    english = await _get(console, supervisor, "/api/reports/monthly", lang="en", **query)
    assert english.headers["content-disposition"].startswith('attachment; filename="report-')

    places = (await _get(console, supervisor, "/api/reports/municipalities")).json()
    assert [p["code"] for p in places] == [october.code]


@pytest.mark.asyncio
async def test_the_api_is_scoped_and_judges_its_input(october: Month, console: Any) -> None:
    query = {"municipality": october.code, "month": "2026-10"}
    assert (await _get(console, october.staff["away_supervisor"], "/api/reports/monthly", **query)).status_code == 403
    assert (await _get(console, october.staff["ola"], "/api/reports/monthly", **query)).status_code == 403
    admin = october.staff["administrator"]
    assert (await _get(console, admin, "/api/reports/monthly", **query)).status_code == 200
    unknown = await _get(console, admin, "/api/reports/monthly", municipality="nowhere", month="2026-10")
    assert unknown.status_code == 404
    assert "nowhere" in unknown.json()["detail"]
    bad = await _get(console, admin, "/api/reports/monthly", municipality=october.code, month="2026-13")
    assert bad.status_code == 422
    assert "miesiąc" in bad.json()["detail"]
    assert (await _get(console, admin, "/api/reports/monthly", format="xls", **query)).status_code == 422
    nul = await _get(console, admin, "/api/reports/monthly", municipality="a\x00b", month="2026-10")
    assert nul.status_code == 422  # PostgreSQL text cannot hold it: refused before the query
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=console), base_url="http://console") as http:
        assert (await http.get("/api/reports/monthly", params=query)).status_code == 401


@pytest.mark.asyncio
async def test_the_reports_page(october: Month, console: Any) -> None:
    page = await _get(console, october.staff["supervisor"], "/reports")
    assert page.status_code == 200
    assert '<script src="/static/reports.js">' in page.text
    assert 'href="/reports/sla"' in page.text
    assert "tylko dla koordynatora" in (await _get(console, october.staff["ola"], "/reports")).text


@pytest.mark.asyncio
async def test_the_command_line_gives_the_same_report(october: Month, database_url: str, tmp_path: Path) -> None:
    made = await run_opaska_command(database_url, "report", "--municipality", october.code, "--month", "2026-10")
    assert made.returncode == 0, made.stderr
    assert "alarms.total;Alarmy (bez testowych);9" in made.stdout  # to standard output without --out
    csv_file = tmp_path / "october.csv"
    made = await run_opaska_command(
        database_url, "report", "--municipality", october.code, "--month", "2026-10", "--out", str(csv_file)
    )
    assert made.returncode == 0, made.stderr
    figures = parse_csv(csv_file.read_bytes())
    # Made now rather than on 5 November: only the stamp and the band's health (heard "a minute ago"
    # then) differ.
    assert figures["alarms.total"] == "9"
    assert figures["answer.within_180s.share_pct"] == "80,0"
    assert figures["notifications.total"] == "3"
    out = tmp_path / "october.pdf"
    pdf = await run_opaska_command(
        database_url, "report", "--municipality", october.code, "--month", "2026-10", "--format", "pdf",
        "--lang", "en", "--out", str(out),
    )  # fmt: skip
    assert pdf.returncode == 0, pdf.stderr
    assert "Telecare monthly report" in pdf_text(out.read_bytes())
    unknown = await run_opaska_command(database_url, "report", "--municipality", "nowhere", "--month", "2026-10")
    assert unknown.returncode == 2
    assert "nie ma gminy o kodzie 'nowhere'" in unknown.stderr
    bad = await run_opaska_command(database_url, "report", "--municipality", october.code, "--month", "10/2026")
    assert bad.returncode == 2
    assert "RRRR-MM" in bad.stderr


def _period_rows(content: bytes) -> dict[str, dict[str, str]]:
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}


@pytest.mark.asyncio
async def test_the_quarter_for_the_funder_adds_up_its_months(
    october: Month, console: Any, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    supervisor = october.staff["supervisor"]
    answer = await _get(console, supervisor, "/api/reports/period", municipality=october.code, period="2026-Q4")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = _period_rows(answer.content)
    assert list(rows) == ["2026-10", "2026-11", "2026-12", "2026-Q4"]
    october_row, november, quarter = rows["2026-10"], rows["2026-11"], rows["2026-Q4"]
    # A month's line is that month's report's funder figures (one computation).
    async with sessions() as session:
        report = await monthly_report(
            session, municipality_code=october.code, month=parse_month("2026-10"), now=MADE_AT
        )
    monthly_figures = parse_csv(report_csv(report))
    for key, value in october_row.items():
        if f"funder.{key}" in monthly_figures and not key.startswith("bands."):
            assert value == monthly_figures[f"funder.{key}"], key
    assert (october_row["alarms.sos"], november["alarms.sos"], quarter["alarms.sos"]) == ("5", "1", "6")
    # People: the quarter starts with October's and ends with the last month's.
    assert (quarter["participants.at_start"], quarter["participants.joined"], quarter["participants.left"]) == (
        "1",
        "1",
        "1",
    )
    # Answer times over the whole quarter: October 2 of 5 and November's 1 of 1 within 60 s.
    assert (october_row["answered_within_60s"], october_row["counted_for_answer_time"]) == ("2", "5")
    assert (quarter["answered_within_60s"], quarter["counted_for_answer_time"]) == ("3", "6")
    assert quarter["answered_within_60s.share_pct"] == "50,0"

    bad = await _get(console, supervisor, "/api/reports/period", municipality=october.code, period="2026-Q5")
    assert bad.status_code == 422
    assert "kwartał" in bad.json()["detail"]
    away = await _get(
        console, october.staff["away_supervisor"], "/api/reports/period", municipality=october.code, period="2026"
    )
    assert away.status_code == 403

    made = await run_opaska_command(
        database_url, "report-export", "--municipality", october.code, "--period", "2026-Q4"
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[1].startswith("2026-10;1;1;1;1;")
    wrong = await run_opaska_command(database_url, "report-export", "--municipality", october.code, "--period", "Q4")
    assert wrong.returncode == 2
    assert "kwartał" in wrong.stderr
