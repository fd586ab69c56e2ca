"""The answer-time SLA: which alarms count against the 60 s and 180 s targets, the first claim (not a
later one) as the answer, Europe/Warsaw periods, and GET /api/sla and /reports/sla by role and
municipality."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Outcome
from alarm_center.alarms.model import AlarmKind
from alarm_center.alarms.technical import TechnicalRaise, raise_technical
from alarm_center.live import AlarmFeed
from alarm_center.quality import sla
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.care import alarm_story
from tests.support.seed import SeededBand, seed_resident_with_band

# Monday 23 November 2026, 13:00 in Warsaw: today and this week begin at the same midnight.
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, second: int = 0, *, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def after(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


# ---- the rules, without a database ----------------------------------------------------------------


def timing(claim_s: float | None = None, closed_s: float | None = None, kind: str = "sos") -> sla.AlarmTiming:
    raised = NOW - timedelta(seconds=1000)
    return sla.AlarmTiming(
        1,
        1,
        kind,
        "resolved" if closed_s is not None else "raised",
        raised,
        None if claim_s is None else after(raised, claim_s),
        7 if claim_s is not None else None,
        None if closed_s is None else after(raised, closed_s),
        None,
    )


@pytest.mark.parametrize(
    ("claim_s", "closed_s", "now_s", "v60", "v180"),
    [
        (60, 100, 1000, sla.Verdict.MET, sla.Verdict.MET),  # exactly on the target meets it
        (60.5, 100, 1000, sla.Verdict.MISSED, sla.Verdict.MET),
        (181, 400, 1000, sla.Verdict.MISSED, sla.Verdict.MISSED),
        (None, 20, 1000, sla.Verdict.NOT_COUNTED, sla.Verdict.NOT_COUNTED),  # cancelled before anyone had to answer
        (None, 100, 1000, sla.Verdict.MISSED, sla.Verdict.NOT_COUNTED),  # cancelled after waiting 100 s
        (None, None, 30, sla.Verdict.PENDING, sla.Verdict.PENDING),  # open, still young
        (None, None, 120, sla.Verdict.MISSED, sla.Verdict.PENDING),
        (None, None, 181, sla.Verdict.MISSED, sla.Verdict.MISSED),
    ],
)
def test_verdicts(
    claim_s: float | None, closed_s: float | None, now_s: float, v60: sla.Verdict, v180: sla.Verdict
) -> None:
    alarm = timing(claim_s, closed_s)
    now = after(alarm.raised_at, now_s)
    assert (alarm.verdict(60, now=now), alarm.verdict(180, now=now)) == (v60, v180)


def test_summary_and_percentiles() -> None:
    alarms = [timing(s, s + 100) for s in (10, 20, 30, 40, 50, 60, 70, 80, 90, 200)]
    figures = sla.summarise(alarms, now=NOW)
    assert figures.alarms == figures.claimed == 10
    sixty, limit = figures.target(60), figures.target(180)
    assert (sixty.counted, sixty.met, sixty.missed, sixty.share, sixty.achieved) == (10, 6, 4, 0.6, False)
    assert (limit.counted, limit.met, limit.share) == (10, 9, 0.9)
    assert (figures.median_claim_s, figures.p90_claim_s, figures.max_claim_s) == (55, 90, 200)
    assert figures.median_resolve_s == 155
    empty = sla.summarise([], now=NOW)
    assert (empty.target(60).share, empty.target(60).achieved, empty.median_claim_s) == (None, None, None)


def test_periods_follow_the_warsaw_calendar_across_the_clock_change() -> None:
    # Sunday 25 October 2026, after the change to winter time (CET, UTC+1).
    now = datetime(2026, 10, 25, 12, 0, tzinfo=UTC)
    assert sla.period_start(sla.Period.TODAY, now) == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # midnight CEST
    assert sla.period_start(sla.Period.WEEK, now) == datetime(2026, 10, 18, 22, 0, tzinfo=UTC)  # Monday 19th
    assert sla.period_start(sla.Period.MONTH, now) == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    # Just after local midnight on 1 November (CET) it is already November in Warsaw.
    assert sla.period_start(sla.Period.MONTH, datetime(2026, 10, 31, 23, 30, tzinfo=UTC)) == datetime(
        2026, 10, 31, 23, 0, tzinfo=UTC
    )
    start, end = sla.month_bounds(2026, 10)
    assert (end - start) == timedelta(days=31, hours=1)
    start, end = sla.month_bounds(2026, 3)
    assert (end - start) == timedelta(days=31, hours=-1)


# ---- the API ------------------------------------------------------------------------------------


@dataclass
class Centre:
    home: SeededBand
    away: SeededBand
    staff: dict[str, StaffMember]
    app: Any
    ids: dict[str, int]

    async def get(self, who: str, url: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console") as http:
            await log_in(http, self.staff[who])
            return await http.get(url)


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    home = await seed_resident_with_band(sessions, clock)
    away = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Nowak")
    mine = [home.municipality_id]
    staff = {
        "ola": await create_staff(sessions, clock, role="operator", municipality_ids=mine, full_name="Ola Nowicka"),
        "jan": await create_staff(sessions, clock, role="operator", municipality_ids=mine, full_name="Jan Kos"),
        "supervisor": await create_staff(sessions, clock, role="supervisor", municipality_ids=mine),
        "technician": await create_staff(sessions, clock, role="technician", municipality_ids=mine),
        "administrator": await create_staff(sessions, clock, role="administrator"),
        "away_operator": await create_staff(
            sessions, clock, role="operator", municipality_ids=[away.municipality_id], full_name="Ewa Dal"
        ),
    }
    ola, jan, ewa = staff["ola"].id, staff["jan"].id, staff["away_operator"].id
    ok = Outcome.RESIDENT_OK
    ids: dict[str, int] = {}
    # Last Friday: this month, not this week. Claimed after 200 s: misses both targets.
    t = at(9, day=20)
    ids["friday"] = await alarm_story(
        sessions, home, AlarmKind.SOS, raised=t, claims=[(after(t, 200), jan)], resolve=(after(t, 400), ok)
    )
    # Today: 30 s, met both.
    t = at(10)
    ids["quick"] = await alarm_story(
        sessions, home, AlarmKind.SOS, raised=t, claims=[(after(t, 30), ola)], resolve=(after(t, 300), ok)
    )
    # Today: 90 s, misses 60 s, meets 180 s.
    t = at(10, 10)
    ids["slow"] = await alarm_story(
        sessions, home, AlarmKind.FALL, raised=t, claims=[(after(t, 90), jan)], resolve=(after(t, 600), ok)
    )
    # Today: claimed by Ola at 40 s, released at 50 s, claimed by Jan at 250 s: answered at 40 s.
    t = at(10, 30)
    ids["released"] = await alarm_story(
        sessions,
        home,
        AlarmKind.SOS,
        raised=t,
        claims=[(after(t, 40), ola), (after(t, 250), jan)],
        release=after(t, 50),
        resolve=(after(t, 500), ok),
    )
    # Today: the resident cancelled after 20 s, before anyone had to answer: not counted.
    t = at(11)
    ids["cancelled"] = await alarm_story(sessions, home, AlarmKind.SOS, raised=t, cancel=after(t, 20))
    # Today: a test alarm claimed after 500 s never counts.
    t = at(11, 10)
    ids["test"] = await alarm_story(
        sessions, home, AlarmKind.SOS, raised=t, claims=[(after(t, 500), ola)], resolve=(after(t, 600), ok), test=True
    )
    # Today: a technical alarm is not a call.
    async with sessions() as session, session.begin():
        await raise_technical(
            session,
            kind=AlarmKind.BAND_OFFLINE,
            at=at(11, 20),
            alarms=[TechnicalRaise(home.band_id, home.resident_id, home.municipality_id, {})],
        )
    # Open and unclaimed for 120 s at NOW: missed 60 s, pending for 180 s.
    ids["open"] = await alarm_story(sessions, home, AlarmKind.SOS, raised=at(11, 58))
    # Another municipality: slow, seen only by the administrator.
    t = at(9)
    ids["away"] = await alarm_story(
        sessions, away, AlarmKind.SOS, raised=t, claims=[(after(t, 500), ewa)], resolve=(after(t, 700), ok)
    )
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    yield Centre(home, away, staff, app, ids)


def _target(figures: dict[str, Any], which: str) -> tuple[int, int, int, int]:
    t = figures[which]
    return t["counted"], t["met"], t["missed"], t["pending"]


@pytest.mark.asyncio
async def test_todays_figures_count_the_first_claim_and_leave_out_tests_technical_and_early_cancels(
    centre: Centre,
) -> None:
    answer = await centre.get("supervisor", "/api/sla?period=today")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    overall = data["overall"]
    # quick, slow, released, cancelled, open.
    assert overall["alarms"] == 5
    assert overall["claimed"] == 3
    assert _target(overall, "within_60s") == (4, 2, 2, 0)  # quick, released met; slow, open missed
    assert _target(overall, "within_180s") == (3, 3, 0, 1)  # open is pending
    assert overall["within_60s"]["share"] == 0.5
    assert overall["within_60s"]["achieved"] is False
    assert overall["within_180s"]["achieved"] is True
    assert overall["median_claim_s"] == 40
    assert overall["max_claim_s"] == 90
    assert overall["median_resolve_s"] == 400  # 20 (cancelled), 300, 500, 600
    assert data["since"].startswith("2026-11-22T23:00:00")

    operators = {row["label"]: row["figures"] for row in data["by_operator"]}
    assert set(operators) == {"Ola Nowicka", "Jan Kos"}
    assert operators["Ola Nowicka"]["claimed"] == 2  # quick, and released (hers was the first claim)
    assert _target(operators["Ola Nowicka"], "within_60s") == (2, 2, 0, 0)
    assert _target(operators["Jan Kos"], "within_60s") == (1, 0, 1, 0)

    assert [row["id"] for row in data["by_municipality"]] == [centre.home.municipality_id]

    missed = {row["alarm_id"]: row for row in data["missed"]}
    assert set(missed) == {centre.ids["slow"], centre.ids["open"]}
    slow = missed[centre.ids["slow"]]
    assert slow["url"] == f"/alarms/{centre.ids['slow']}"
    assert slow["missed_targets"] == [60]
    assert slow["claim_s"] == 90
    assert slow["claimed_by_name"] == "Jan Kos"
    assert [(e["type"], e["seconds_from_raised"]) for e in slow["timeline"]][:2] == [("raised", 0), ("claimed", 90)]
    assert slow["timeline"][1]["actor_name"] == "Jan Kos"
    assert missed[centre.ids["open"]]["missed_targets"] == [60]
    assert missed[centre.ids["open"]]["claim_s"] is None
    # Funders' figures, not the residents: no names in the SLA at all.
    assert "Kowalska" not in answer.text


@pytest.mark.asyncio
async def test_week_and_month(centre: Centre) -> None:
    week = (await centre.get("supervisor", "/api/sla?period=week")).json()
    assert week["overall"]["alarms"] == 5  # Monday: the week began at the same midnight as today
    month = (await centre.get("supervisor", "/api/sla?period=month")).json()
    assert month["overall"]["alarms"] == 6
    assert _target(month["overall"], "within_60s") == (5, 2, 3, 0)
    assert _target(month["overall"], "within_180s") == (4, 3, 1, 1)
    friday = next(row for row in month["missed"] if row["alarm_id"] == centre.ids["friday"])
    assert friday["missed_targets"] == [60, 180]
    assert month["since"].startswith("2026-10-31T23:00:00")


@pytest.mark.asyncio
async def test_the_administrator_sees_every_municipality(centre: Centre) -> None:
    data = (await centre.get("administrator", "/api/sla?period=today")).json()
    assert data["overall"]["alarms"] == 6
    assert {row["id"] for row in data["by_municipality"]} == {centre.home.municipality_id, centre.away.municipality_id}
    assert "Ewa Dal" in {row["label"] for row in data["by_operator"]}
    assert centre.ids["away"] in {row["alarm_id"] for row in data["missed"]}


@pytest.mark.asyncio
@pytest.mark.parametrize("who", ["ola", "technician"])
async def test_only_supervisors_and_administrators(centre: Centre, who: str) -> None:
    assert (await centre.get(who, "/api/sla")).status_code == 403
    page = await centre.get(who, "/reports/sla")
    assert "tylko dla koordynatora" in page.text


@pytest.mark.asyncio
async def test_without_a_login_and_with_a_bad_period(centre: Centre) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=centre.app), base_url="http://console") as http:
        assert (await http.get("/api/sla")).status_code == 401
        page = await http.get("/reports/sla")
        assert (page.status_code, page.headers["location"]) == (303, "/login?next=/reports/sla")
    assert (await centre.get("supervisor", "/api/sla?period=year")).status_code == 422


@pytest.mark.asyncio
async def test_the_page(centre: Centre) -> None:
    page = await centre.get("supervisor", "/reports/sla")
    assert page.status_code == 200
    assert '<script src="/static/report_sla.js">' in page.text
    assert 'data-period="month"' in page.text
    script = await centre.get("supervisor", "/static/report_sla.js")
    assert script.status_code == 200
