"""Installation tests belong to technicians: a band in test mode raises alarms that make no sound,
reach neither the supervisor nor a relative, and that the technician closes (operators may too);
a technician is refused every real alarm; a real SOS right after test mode ends is a real alarm
with the whole life policy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, expect
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmKind
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import PolicyBook, shipped_policies
from alarm_center.escalation.presence import record_console
from alarm_center.escalation.worker import EscalationWorker
from alarm_center.live import AlarmFeed
from alarm_center.notify.model import Notification
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock, SystemClock
from gateway.judge import AlarmMessage
from gateway.service import BandMessageService
from gateway.stored import AlarmStored
from registry import installation_test
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, new_page, no_script_errors
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio
__all__ = ["browser"]  # the Chromium fixture, from tests/support/browser.py

LIFE_KINDS = ("sos", "fall")


# ---- the escalation a test alarm takes ------------------------------------------------------------------


def _console_steps_are_quiet(snapshot: dict[str, Any]) -> None:
    for step in snapshot["steps"]:
        assert step["channel"] == "console", step
        assert step["targets"] == ["operators"], step
        assert (step["sound"], step["mark_overdue"]) == (False, False), step
    assert snapshot["repeat"]["times"] == 0
    assert snapshot["claimed_no_progress_s"] is None
    assert snapshot["responders"] == {}
    assert snapshot.get("unattended", []) == []
    assert snapshot["installation_test"] is True


@pytest.mark.parametrize("kind", LIFE_KINDS)
async def test_a_test_alarms_escalation_is_the_operators_console_only_without_sound(kind: str) -> None:
    book = shipped_policies()
    real = book.snapshot_for(kind, None)
    test = book.snapshot_for(kind, None, is_test=True)
    # The shipped life policy beeps, alerts the supervisor and phones: a test does none of it.
    assert any(step["sound"] for step in real["steps"])
    assert any("supervisor" in step["targets"] for step in real["steps"])
    assert any(step["channel"] != "console" for step in real["steps"])
    _console_steps_are_quiet(test)
    assert len(test["steps"]) == 1
    assert test["steps"][0]["after_s"] == 0


async def test_a_dropped_steps_wait_goes_to_the_next_kept_step() -> None:
    book = PolicyBook.model_validate(
        {
            "kinds": dict.fromkeys((kind.value for kind in AlarmKind), "p"),
            "responders": {"carer": {"name": "Opiekunka", "phone": "+48712345678"}},
            "policies": {
                "p": {
                    "claimed_no_progress_s": 600,
                    "steps": [
                        {"after_s": 0, "channel": "console", "targets": ["supervisor"], "sound": True},
                        {"after_s": 30, "channel": "sms", "targets": ["responder:carer", "contacts"]},
                        {"after_s": 45, "channel": "console", "targets": ["operators", "supervisor"], "sound": True},
                        {"after_s": 60, "channel": "voice", "targets": ["on_duty:supervisor"]},
                        {"after_s": 10, "channel": "console", "targets": ["operators"], "mark_overdue": True},
                    ],
                    "repeat": {"times": 2, "from_step": 1, "after_s": 300},
                }
            },
        }
    )
    real = book.snapshot_for("sos", None)
    assert real["responders"] == {"carer": {"name": "Opiekunka", "phone": "+48712345678"}}
    test = book.snapshot_for("sos", None, is_test=True)
    _console_steps_are_quiet(test)
    # 0 + 30 + 45 seconds after the alarm, as the operators' step of the real policy; then 60 + 10 later.
    assert [step["after_s"] for step in test["steps"]] == [75, 70]


# ---- a centre with a console, a technician and a band ---------------------------------------------------


@dataclass
class Visit:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    home: SeededBand
    away: SeededBand
    staff: dict[str, StaffMember]
    app: Any
    service: BandMessageService
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    presses: int = 0

    async def as_(self, who: str) -> httpx.AsyncClient:
        if who not in self.clients:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console")
            await log_in(client, self.staff[who])
            self.clients[who] = client
        return self.clients[who]

    async def start_test(self, seeded: SeededBand | None = None, minutes: int = 30) -> datetime:
        seeded = seeded or self.home
        async with self.sessions() as session, session.begin():
            band = await installation_test.start_test_mode(
                session, self.clock, band_id=seeded.band_id, minutes=minutes, staff_id=self.staff["technician"].id
            )
            assert band.test_mode_until is not None
            return band.test_mode_until

    async def press(self, kind: str = "sos", *, seeded: SeededBand | None = None, delay_ms: int = 800) -> int:
        """The band's press, received now, pressed `delay_ms` earlier by the band's clock."""
        seeded = seeded or self.home
        self.presses += 1
        now = self.clock.now()
        message = AlarmMessage(
            band=seeded.serial,
            kind=kind,
            message_id=f"m{self.presses}",
            band_time=now - timedelta(milliseconds=delay_ms),
            payload={},
            malformed=False,
            clock_suspect=False,
        )
        stored = await self.service.store_alarm(message, received_at=now)
        assert isinstance(stored, AlarmStored)
        assert stored.alarm_id is not None
        return stored.alarm_id

    async def alarm(self, alarm_id: int) -> Alarm:
        async with self.sessions() as session:
            return (await session.execute(select(Alarm).where(Alarm.id == alarm_id))).scalar_one()

    async def events(self, alarm_id: int) -> list[AlarmEvent]:
        async with self.sessions() as session:
            query = select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
            return list((await session.execute(query)).scalars())

    async def notifications(self, alarm_id: int) -> list[Notification]:
        async with self.sessions() as session:
            query = select(Notification).where(Notification.alarm_id == alarm_id)
            return list((await session.execute(query)).scalars())

    async def escalate_for(self, seconds: int, *, console: bool, every_s: int = 15) -> None:
        """Run the escalation worker through `seconds`, with an operator console connected or not."""
        worker = EscalationWorker(self.sessions, self.clock)
        for _ in range(seconds // every_s + 1):
            async with self.sessions() as session, session.begin():
                now = self.clock.now()
                await record_console(session, name="test", clients_since=now if console else None, now=now)
            await worker.run_round()
            self.clock.advance(every_s)


@pytest_asyncio.fixture
async def visit(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Visit]:
    home = await seed_resident_with_band(sessions, clock)
    away = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Nowak")
    mine, theirs = [home.municipality_id], [away.municipality_id]
    staff = {
        "operator": await create_staff(sessions, clock, role="operator", municipality_ids=mine),
        "supervisor": await create_staff(sessions, clock, role="supervisor", municipality_ids=mine),
        "technician": await create_staff(
            sessions, clock, role="technician", municipality_ids=mine, full_name="Tomasz Technik"
        ),
        "other_technician": await create_staff(sessions, clock, role="technician", municipality_ids=theirs),
        "other_operator": await create_staff(sessions, clock, role="operator", municipality_ids=theirs),
    }
    context = ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False)
    app = create_app(context, clock=clock)
    found = Visit(sessions, clock, home, away, staff, app, BandMessageService(sessions, test_pass_latency_ms=5000))
    try:
        yield found
    finally:
        for client in found.clients.values():
            await client.aclose()


def _claim_count(kind: str) -> float:
    return REGISTRY.get_sample_value("opaska_alarm_claim_seconds_count", {"kind": kind}) or 0.0


# ---- the test alarm: quiet, nobody's but the technician's -----------------------------------------------


async def test_a_test_alarm_never_beeps_reaches_no_supervisor_and_no_relative(visit: Visit) -> None:
    await visit.start_test()
    alarm_id = await visit.press("sos")
    fall_id = await visit.press("fall")
    alarm = await visit.alarm(alarm_id)
    assert alarm.is_test

    # Twenty minutes unclaimed: first with the console connected, then with nobody at it (when a
    # real alarm's escalation goes straight to the phone).
    await visit.escalate_for(600, console=True)
    await visit.escalate_for(600, console=False)

    for test_alarm in (alarm_id, fall_id):
        escalated = [event for event in await visit.events(test_alarm) if event.type == "escalated"]
        assert escalated, "the operators' console step is still recorded"
        for event in escalated:
            assert event.detail["targets"] == ["operators"], event.detail
            assert event.detail.get("sound") is False, event.detail
            assert event.detail["channel"] == "console", event.detail
        assert (await visit.alarm(test_alarm)).overdue_at is None
        assert await visit.notifications(test_alarm) == []
    async with visit.sessions() as session:
        [escalation] = (await session.execute(select(Escalation).where(Escalation.alarm_id == alarm_id))).scalars()
        assert escalation.state == "done"

    # The supervisor's overview leaves it out, and today's answer times do not count it.
    supervisor = await visit.as_("supervisor")
    overview = (await supervisor.get("/api/supervisor/overview")).json()
    assert [row["alarm"]["id"] for row in overview["open_alarms"]] == []
    assert overview["overdue_count"] == 0
    assert overview["answer_times"]["alarms"] == 0

    # The operators see one number: two test alarms open, one band in test mode.
    operator = await visit.as_("operator")
    summary = await operator.get("/api/installation-tests/summary")
    assert summary.status_code == 200, summary.text
    assert summary.json() == {"bands_in_test_mode": 1, "open_test_alarms": 2}
    elsewhere = (await visit.as_("other_operator")).get("/api/installation-tests/summary")
    assert (await elsewhere).json() == {"bands_in_test_mode": 0, "open_test_alarms": 0}


async def test_the_technician_lists_and_closes_the_test_alarms(visit: Visit) -> None:
    await visit.start_test()
    quick = await visit.press("sos", delay_ms=900)
    visit.clock.advance(5)
    slow = await visit.press("fall", delay_ms=9000)
    visit.clock.advance(20)
    technician = await visit.as_("technician")
    claims_before = _claim_count("sos")

    listed = await technician.get(f"/api/installation-tests/bands/{visit.home.band_id}/alarms")
    assert listed.status_code == 200, listed.text
    rows = listed.json()
    assert [(row["alarm_id"], row["kind"], row["status"]) for row in rows] == [
        (quick, "sos", "raised"),
        (slow, "fall", "raised"),
    ]
    assert [row["waited_s"] for row in rows] == [25, 20]
    assert (rows[0]["result"]["passed"], rows[0]["result"]["latency_ms"]) == (True, 900)
    assert rows[1]["result"]["passed"] is False

    # One click each: claimed and closed, with the outcome the test's result gives.
    closed = await technician.post(f"/api/installation-tests/alarms/{quick}/close", json={})
    assert closed.status_code == 200, closed.text
    assert closed.json()["outcome"] == "installation_test_ok"
    closed = await technician.post(f"/api/installation-tests/alarms/{slow}/close", json={"note": "słaby zasięg"})
    assert (closed.status_code, closed.json()["outcome"]) == (200, "installation_test_failed")
    for alarm_id, outcome in ((quick, "installation_test_ok"), (slow, "installation_test_failed")):
        alarm = await visit.alarm(alarm_id)
        assert (alarm.status, alarm.outcome, alarm.claimed_by) == ("resolved", outcome, visit.staff["technician"].id)
        moves = [(e.type, e.actor_type, e.actor_id, e.detail) for e in await visit.events(alarm_id)]
        technician_id = visit.staff["technician"].id
        assert ("claimed", "staff", technician_id, {"installation_test": True}) in moves
        [resolved] = [detail for kind, _, _, detail in moves if kind == "resolved"]
        assert resolved["outcome"] == outcome
        assert resolved["installation_test"] is True
    assert (await visit.alarm(slow)).note == "słaby zasięg"
    # A technician's claim of a test is no operator's answer time.
    assert _claim_count("sos") == claims_before
    assert (await technician.get(f"/api/installation-tests/bands/{visit.home.band_id}/alarms")).json() == []
    # Closed twice: refused, saying so.
    again = await technician.post(f"/api/installation-tests/alarms/{quick}/close", json={})
    assert again.status_code == 409
    assert "already resolved" in again.json()["detail"]


async def test_a_technician_is_refused_real_alarms_and_other_municipalities(visit: Visit) -> None:
    real = await visit.press("sos")
    assert not (await visit.alarm(real)).is_test
    technician = await visit.as_("technician")
    for path, body in (
        (f"/api/alarms/{real}/claim", None),
        (f"/api/alarms/{real}/resolve", {"outcome": "installation_test_ok"}),
        (f"/api/installation-tests/alarms/{real}/close", {}),
    ):
        refused = await technician.post(path, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert "real alarm" in refused.json()["detail"]
        assert "technician may not do this" in refused.json()["detail"]
    # Nor does an operator close a real alarm as a test, by either door.
    operator = await visit.as_("operator")
    assert (await operator.post(f"/api/installation-tests/alarms/{real}/close", json={})).status_code == 409
    assert (await operator.post(f"/api/alarms/{real}/claim")).status_code == 200
    as_test = await operator.post(f"/api/alarms/{real}/resolve", json={"outcome": "installation_test_ok"})
    assert as_test.status_code == 422
    assert as_test.json()["detail"][0]["loc"] == ["body", "outcome"]
    alarm = await visit.alarm(real)
    assert (alarm.status, alarm.claimed_by) == ("claimed", visit.staff["operator"].id)

    # A test alarm of another municipality's band: not this technician's.
    await visit.start_test(visit.away)
    theirs = await visit.press("sos", seeded=visit.away)
    refused = await technician.post(f"/api/installation-tests/alarms/{theirs}/close", json={})
    assert refused.status_code == 403
    assert "not assigned to" in refused.json()["detail"]
    listed = await technician.get(f"/api/installation-tests/bands/{visit.away.band_id}/alarms")
    assert listed.status_code == 403
    # Their own technician may.
    other = await visit.as_("other_technician")
    closed = await other.post(f"/api/installation-tests/alarms/{theirs}/close", json={})
    assert closed.status_code == 200, closed.text


async def test_the_alarm_routes_take_a_test_alarm_from_technicians_and_operators(visit: Visit) -> None:
    await visit.start_test()
    first = await visit.press("sos")
    technician = await visit.as_("technician")
    # Claim, then resolve, as on the alarm page; a technician's outcome is a test's.
    assert (await technician.post(f"/api/alarms/{first}/claim")).status_code == 200
    wrong = await technician.post(f"/api/alarms/{first}/resolve", json={"outcome": "false_alarm", "note": "x"})
    assert wrong.status_code == 422
    assert "installation_test_ok" in wrong.json()["detail"][0]["msg"]
    done = await technician.post(f"/api/alarms/{first}/resolve", json={"outcome": "installation_test_failed"})
    assert done.status_code == 200, done.text
    # An operator closes one as well, with no note needed for a test outcome.
    second = await visit.press("fall")
    operator = await visit.as_("operator")
    assert (await operator.post(f"/api/alarms/{second}/claim")).status_code == 200
    done = await operator.post(f"/api/alarms/{second}/resolve", json={"outcome": "installation_test_ok"})
    assert done.status_code == 200, done.text
    assert (await visit.alarm(second)).outcome == "installation_test_ok"
    resolved = [e.detail for e in await visit.events(second) if e.type == "resolved"]
    assert resolved == [{"outcome": "installation_test_ok", "installation_test": True}]


# ---- after the test: real again ------------------------------------------------------------------------------


async def test_a_real_sos_right_after_test_mode_ends_is_a_real_alarm(visit: Visit) -> None:
    until = await visit.start_test(minutes=5)
    test_alarm = await visit.press("sos")
    visit.clock.advance((until - visit.clock.now()).total_seconds())  # the instant test mode ends
    real_alarm = await visit.press("sos")
    assert real_alarm != test_alarm
    alarm = await visit.alarm(real_alarm)
    assert not alarm.is_test

    async with visit.sessions() as session:
        policy = (
            await session.execute(select(Escalation.policy).where(Escalation.alarm_id == real_alarm))
        ).scalar_one()
    expected = shipped_policies().snapshot_for("sos", None)
    assert policy["steps"] == expected["steps"]
    assert "installation_test" not in policy
    assert any("supervisor" in step["targets"] for step in policy["steps"])

    # Unclaimed for five minutes with the console connected: sound, the supervisor, overdue, and a
    # relative called, as for any SOS.
    await visit.escalate_for(300, console=True)
    escalated = [e.detail for e in await visit.events(real_alarm) if e.type == "escalated"]
    assert any(detail.get("sound") for detail in escalated)
    assert any("supervisor" in detail.get("targets", []) for detail in escalated)
    assert (await visit.alarm(real_alarm)).overdue_at is not None
    assert await visit.notifications(real_alarm)
    assert await visit.notifications(test_alarm) == []
    supervisor = await visit.as_("supervisor")
    overview = (await supervisor.get("/api/supervisor/overview")).json()
    assert [row["alarm"]["id"] for row in overview["open_alarms"]] == [real_alarm]
    # The technician cannot touch it; the test alarm left open is still theirs to close.
    technician = await visit.as_("technician")
    assert (await technician.post(f"/api/installation-tests/alarms/{real_alarm}/close", json={})).status_code == 403
    assert (await technician.post(f"/api/installation-tests/alarms/{test_alarm}/close", json={})).status_code == 200
    summary = (await (await visit.as_("operator")).get("/api/installation-tests/summary")).json()
    assert summary == {"bands_in_test_mode": 0, "open_test_alarms": 0}


# ---- the technician's view, in a real browser ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def served(visit: Visit) -> AsyncIterator[str]:
    """The console on a real port (uvicorn, with its live feed), on the real clock: the page's waits
    count up as the server's do (the visit's clock started at the real time)."""
    app = create_app(ConsoleContext(visit.sessions, AlarmFeed(visit.sessions)), clock=SystemClock())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


@pytest.mark.e2e
@pytest.mark.timeout(120)
async def test_the_band_page_lists_the_test_alarms_live_and_closes_them(visit: Visit, browser: Browser) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=10_000)
    await visit.start_test()
    sos = await visit.press("sos", delay_ms=700)
    async with served(visit) as base:
        page = await new_page(browser)
        start = f"/registry/bands/{visit.home.band_id}"
        await page.goto(base + start)
        await page.fill("#username", visit.staff["technician"].username)
        await page.fill("#password", visit.staff["technician"].password)
        await page.click("button[type=submit]")
        await expect(page).to_have_url(base + start)
        # The URL is the page's as soon as the navigation commits, before its scripts have their
        # handlers: a click then would be lost. The load event comes after them.
        await page.wait_for_load_state("load")
        with no_script_errors(page, expected=RECONNECTING):
            rows = page.locator("#test-alarms tbody tr")
            sos_row = page.locator(f'#test-alarms tr[data-alarm-id="{sos}"]')
            await expect(sos_row).to_contain_text("SOS")
            await expect(sos_row).to_contain_text("TEST")
            await expect(sos_row).to_contain_text("PASS 700 ms")
            await expect(page.locator("#test-alarms-empty")).to_be_hidden()
            # The wait counts up on the page by itself.
            waited = sos_row.locator(".waited")
            first = await waited.text_content()
            await expect(waited).not_to_have_text(first or "", timeout=5_000)

            # A fall pressed while the page is open appears by itself within the poll.
            fall = await visit.press("fall", delay_ms=9_000)
            fall_row = page.locator(f'#test-alarms tr[data-alarm-id="{fall}"]')
            await expect(fall_row).to_contain_text("Upadek")
            await expect(fall_row).to_contain_text("FAIL")
            await expect(rows).to_have_count(2)
            await page.screenshot(path=str(SCREENSHOTS / "band-test-alarms.png"), full_page=True)

            await sos_row.get_by_role("button", name="Zamknij test").click()
            await expect(page.locator("#action-done")).to_contain_text("Test instalacyjny zakończony")
            await expect(rows).to_have_count(1)
            await fall_row.get_by_role("button", name="Zamknij test").click()
            await expect(page.locator("#action-done")).to_contain_text("Test instalacyjny nieudany")
            await expect(page.locator("#test-alarms-empty")).to_be_visible()
            await expect(page.locator("#test-alarms")).to_be_hidden()
        await page.context.close()
    assert ((await visit.alarm(sos)).status, (await visit.alarm(sos)).outcome) == ("resolved", "installation_test_ok")
    assert (await visit.alarm(fall)).outcome == "installation_test_failed"
