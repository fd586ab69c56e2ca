"""The relatives table tells the truth: each SMS and call shows the status Twilio reported for it
(the real `twilio` client against the fake Twilio, whose signed status callbacks reach the console's
webhooks over HTTP), each relative's TAK/NIE shows with its time, and with no Twilio (test mode)
nothing is shown as sent and every page says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms import repository as alarms
from alarm_center.alarms.model import PRIORITY_BY_KIND, AlarmKind, AlarmStatus
from alarm_center.live import AlarmFeed
from alarm_center.notify import repository
from alarm_center.notify.notifier import OfflineNotifier
from alarm_center.notify.outbox import OutboxPolicy, OutboxSender
from alarm_center.notify.queue import queue_alert
from alarm_center.notify.service import DELIVERY_EVENT, TEST_MODE_NOT_SENT
from alarm_center.notify.templates import alarm_code
from alarm_center.notify.twilio_notifier import TwilioNotifier
from console.app import create_app
from console.context import ConsoleContext, TwilioHooks
from core.clock import FakeClock
from core.settings import Settings
from opaska import platform
from registry import service as registry
from simulator.fake_twilio import FakeTwilio
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.browser import SCREENSHOTS, browser, new_page
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [
    pytest.mark.asyncio,
    # twilio 9.13 still hands aiohttp 3.14 a BasicAuth; not ours to fix.
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

PUBLIC = "https://alarm.opaska.example"
OURS = "+48221234567"
FIRST = "+48601234567"  # the seeded resident's contact, Anna Kowalska ("601 234 567")
SECOND = "+48602000002"  # Ewa Nowak, added below
POLICY = OutboxPolicy(max_attempts=3, retry_base_s=2, retry_max_s=60, send_deadline_s=30, per_number_per_minute=6)
BANNER = "Tryb próbny: SMS i połączenia nie są wysyłane"

__all__ = ["browser"]  # the Chromium fixture, from tests/support/browser.py


@dataclass
class Centre:
    """A resident with two relatives, the console (webhooks and API) on a real port, the outbox sender
    and the fake Twilio between them, and an operator logged in to the console."""

    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    fake: FakeTwilio | None
    seeded: SeededBand
    sender: OutboxSender
    operator: httpx.AsyncClient

    async def alarm(self) -> int:
        async with self.sessions() as session, session.begin():
            alarm_id = await alarms.insert_alarm_if_none_open(
                session,
                {
                    "municipality_id": self.seeded.municipality_id,
                    "resident_id": self.seeded.resident_id,
                    "band_id": self.seeded.band_id,
                    "kind": AlarmKind.SOS.value,
                    "priority": int(PRIORITY_BY_KIND[AlarmKind.SOS]),
                    "status": AlarmStatus.RAISED.value,
                    "is_test": False,
                    "raised_at": self.clock.now(),
                    "repeat_count": 0,
                    "note": "",
                    "first_message_id": None,
                },
            )
            assert alarm_id is not None
            return alarm_id

    async def contact_id(self, phone: str) -> int:
        async with self.sessions() as session:
            [contact] = await repository.contacts_with_phone(session, phone)
            return contact.id

    async def notify(self, alarm_id: int, channel: str, to: str = FIRST) -> int:
        """What an escalation step writes: a pending alert to a relative."""
        contact_id = await self.contact_id(to)
        async with self.sessions() as session, session.begin():
            return await queue_alert(
                session,
                alarm_id=alarm_id,
                channel=channel,
                to_phone=to,
                links=None,
                at=self.clock.now(),
                contact_id=contact_id,
            )

    async def detail(self, alarm_id: int) -> dict[str, Any]:
        answer = await self.operator.get(f"/api/alarms/{alarm_id}")
        assert answer.status_code == 200, answer.text
        detail: dict[str, Any] = answer.json()
        return detail

    async def contact_row(self, alarm_id: int, phone: str) -> dict[str, Any]:
        """The relatives table's row of the contact with this number, as the API gives it."""
        contact_id = await self.contact_id(phone)
        [row] = [c for c in (await self.detail(alarm_id))["contacts"] if c["id"] == contact_id]
        return row


@contextlib.asynccontextmanager
async def _console(context: ConsoleContext, clock: FakeClock) -> AsyncIterator[str]:
    app = create_app(context, clock=clock)
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


async def _seed(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> SeededBand:
    seeded = await seed_resident_with_band(sessions, clock, first_name="Helena")
    async with sessions() as session, session.begin():
        await registry.add_contact(
            session, clock, resident_id=seeded.resident_id, name="Ewa Nowak", phone=SECOND, priority=2
        )
    return seeded


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    """Twilio configured: the console has its webhooks, the sender the Twilio notifier."""
    seeded = await _seed(sessions, clock)
    fake = FakeTwilio(phone_number=OURS, inbound_sms_url=f"{PUBLIC}/twilio/sms", now=clock.now)
    context = ConsoleContext(
        sessions, AlarmFeed(sessions), run_feed=False, twilio_hooks=TwilioHooks(fake.auth_token, PUBLIC, clock)
    )
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=[seeded.municipality_id])
    async with _console(context, clock) as url, fake, httpx.AsyncClient(base_url=url) as http:
        fake.url_map[PUBLIC] = url
        await log_in(http, operator)
        notifier = TwilioNotifier(fake.client(), from_number=OURS, public_url=PUBLIC, timeout_s=2)
        yield Centre(sessions, clock, fake, seeded, OutboxSender(sessions, notifier, clock, POLICY), http)
        await notifier.aclose()


@pytest_asyncio.fixture
async def test_mode_centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    """No Twilio: the console without webhooks, the sender with the offline notifier."""
    seeded = await _seed(sessions, clock)
    context = ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False)
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=[seeded.municipality_id])
    async with _console(context, clock) as url, httpx.AsyncClient(base_url=url) as http:
        await log_in(http, operator)
        yield Centre(sessions, clock, None, seeded, OutboxSender(sessions, OfflineNotifier(), clock, POLICY), http)


def _delivery_events(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["detail"] for entry in detail["timeline"] if entry["type"] == DELIVERY_EVENT]


# -- delivery as Twilio reports it -------------------------------------------------------------------------

# (what the fake Twilio plays after the create, the status the table then shows, whether it is an end)
SMS_CASES = [
    ((), "queued", False),  # no callback: Twilio's answer to the create says it
    (("sent",), "sent", False),
    (("sent", "delivered"), "delivered", True),
    (("failed",), "failed", True),
    (("sent", "undelivered"), "undelivered", True),
]


@pytest.mark.parametrize(("callbacks", "shown", "ended"), SMS_CASES, ids=[case[1] for case in SMS_CASES])
async def test_each_sms_status_from_twilio_shows_in_the_relatives_table(
    centre: Centre, callbacks: tuple[str, ...], shown: str, ended: bool
) -> None:
    assert centre.fake is not None
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id, "sms")
    assert await centre.sender.send_due() == 1
    sms = await centre.fake.phone(FIRST).expect_sms("Helena")
    sent_at = centre.clock.now()
    centre.clock.advance(7)
    results = await sms.progress(*callbacks)
    assert [result.status for result in results if result is not None] == [200] * len(callbacks)

    [n, *fallback] = (await centre.contact_row(alarm_id, FIRST))["notifications"]
    assert (n["id"], n["channel"], n["provider_status"], n["test_mode"]) == (notification_id, "sms", shown, False)
    assert datetime.fromisoformat(n["provider_status_at"]) == (centre.clock.now() if callbacks else sent_at)
    if shown in ("failed", "undelivered"):
        assert "30003" in (n["error"] or "")  # Twilio's error code, for the operator
        # ...and the call that replaces the SMS is in the same row, not yet sent.
        assert [(f["channel"], f["template"], f["status"], f["provider_status"]) for f in fallback] == [
            ("voice", "fallback_voice", "pending", None)
        ]
    else:
        assert fallback == []

    events = _delivery_events(await centre.detail(alarm_id))
    if ended:
        contact_id = await centre.contact_id(FIRST)
        assert events[0]["provider_status"] == shown
        assert (events[0]["notification_id"], events[0]["channel"], events[0]["contact_id"]) == (
            notification_id,
            "sms",
            contact_id,
        )
        assert ("error_code" in events[0]) == (shown != "delivered")
    else:
        assert events == []


# (what happens on the relative's phone, the CallStatus the table then shows, whether it is an end)
CALL_CASES = [
    ("ring", "ringing", False),
    ("answer", "in-progress", False),
    ("completed", "completed", True),
    ("busy", "busy", True),
    ("no-answer", "no-answer", True),
    ("failed", "failed", True),
]


@pytest.mark.parametrize(("happens", "shown", "ended"), CALL_CASES, ids=[case[1] for case in CALL_CASES])
async def test_each_call_status_from_twilio_shows_in_the_relatives_table(
    centre: Centre, happens: str, shown: str, ended: bool
) -> None:
    assert centre.fake is not None
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id, "voice", to=SECOND)
    await centre.sender.send_due()
    call = await centre.fake.phone(SECOND).expect_call()
    centre.clock.advance(12)
    if happens == "ring":
        await call.ring()
    elif happens == "answer":
        assert "<Gather" in await call.answer()
    else:
        await call.end(happens)

    [n] = (await centre.contact_row(alarm_id, SECOND))["notifications"]
    assert (n["id"], n["channel"], n["provider_status"], n["test_mode"]) == (notification_id, "voice", shown, False)
    assert datetime.fromisoformat(n["provider_status_at"]) == centre.clock.now()
    events = _delivery_events(await centre.detail(alarm_id))
    assert [event["provider_status"] for event in events] == ([shown] if ended else [])


async def test_a_late_callback_never_hides_a_further_status(centre: Centre) -> None:
    """Twilio's callbacks come out of order: "sent" after "delivered" leaves "delivered" shown."""
    assert centre.fake is not None
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id, "sms")
    await centre.sender.send_due()
    sms = await centre.fake.phone(FIRST).expect_sms()
    await sms.progress("delivered")
    delivered_at = centre.clock.now()
    centre.clock.advance(5)
    await sms.progress("sent", "undelivered")  # a late "sent", then a contradicting end: the first end stays
    [n] = (await centre.contact_row(alarm_id, FIRST))["notifications"]
    assert (n["status"], n["provider_status"]) == ("delivered", "delivered")
    assert datetime.fromisoformat(n["provider_status_at"]) == delivered_at
    assert [e["provider_status"] for e in _delivery_events(await centre.detail(alarm_id))] == ["delivered"]


# -- answers -----------------------------------------------------------------------------------------------


async def test_answers_tak_and_nie_show_per_contact_with_their_times(centre: Centre) -> None:
    assert centre.fake is not None
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id, "sms", to=FIRST)
    await centre.notify(alarm_id, "voice", to=SECOND)
    await centre.sender.send_due()
    first, second = centre.fake.phone(FIRST), centre.fake.phone(SECOND)
    sms = await first.expect_sms("Helena")
    call = await second.expect_call()

    before = await centre.detail(alarm_id)
    assert [(c["answer"], c["answered_at"], c["answer_via"]) for c in before["contacts"]] == [(None, None, None)] * 2

    centre.clock.advance(60)
    said_tak_at = centre.clock.now()
    assert (await sms.reply(f"TAK {alarm_code(alarm_id)}")).status == 200
    centre.clock.advance(30)
    pressed_at = centre.clock.now()
    await call.press("2")

    row = await centre.contact_row(alarm_id, FIRST)
    assert (row["answer"], row["answer_via"]) == ("going", "sms")
    assert datetime.fromisoformat(row["answered_at"]) == said_tak_at
    row = await centre.contact_row(alarm_id, SECOND)
    assert (row["answer"], row["answer_via"]) == ("cannot", "voice")
    assert datetime.fromisoformat(row["answered_at"]) == pressed_at

    # A "going" taken back: the latest answer is the one shown.
    centre.clock.advance(45)
    took_back_at = centre.clock.now()
    await first.reply(f"NIE {alarm_code(alarm_id)}")
    row = await centre.contact_row(alarm_id, FIRST)
    assert (row["answer"], row["answer_via"]) == ("cannot", "sms")
    assert datetime.fromisoformat(row["answered_at"]) == took_back_at


# -- test mode ---------------------------------------------------------------------------------------------


async def test_in_test_mode_nothing_is_shown_as_sent(test_mode_centre: Centre) -> None:
    centre = test_mode_centre
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id, "sms")
    await centre.notify(alarm_id, "voice", to=SECOND)
    await centre.sender.send_due()
    detail = await centre.detail(alarm_id)
    rows = {c["phone"]: c["notifications"] for c in detail["contacts"]}
    for notifications in rows.values():
        [n] = notifications
        # `status` stays the outbox's own ("sent": the escalation goes on as it would), but the row says test mode.
        assert (n["status"], n["test_mode"], n["provider_status"]) == ("sent", True, None)
    # Sent side by side: the events come in either order.
    [first] = [event for event in _delivery_events(detail) if event["notification_id"] == notification_id]
    assert len(_delivery_events(detail)) == 2
    contact_id = await centre.contact_id(FIRST)
    assert first == {
        "notification_id": notification_id,
        "channel": "sms",
        "template": "sms_alert",
        "contact_id": contact_id,
        "provider_status": TEST_MODE_NOT_SENT,
    }


async def test_the_banner_and_healthz_say_test_mode_without_twilio(test_mode_centre: Centre) -> None:
    http = test_mode_centre.operator
    for path in ("/", f"/alarms/{await test_mode_centre.alarm()}"):
        page = await http.get(path)
        assert page.status_code == 200
        assert f'<p class="test-mode-banner" role="status">{BANNER}</p>' in page.text
    assert (await http.get("/healthz")).json() == {"status": "ok", "notifier": "outbox", "test_mode": True}


async def test_with_twilio_there_is_no_banner_and_healthz_says_twilio(centre: Centre) -> None:
    page = await centre.operator.get("/")
    assert page.status_code == 200
    assert 'id="logout"' in page.text  # the page itself, logged in
    assert "test-mode-banner" not in page.text
    assert BANNER not in page.text
    assert (await centre.operator.get("/healthz")).json() == {"status": "ok", "notifier": "twilio", "test_mode": False}


async def test_the_start_up_log_warns_of_test_mode_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="opaska.platform"):
        platform._say_if_test_mode(Settings())
        twilio = {"notify": {"mode": "twilio"}, "voice": {"unknown_caller_municipality": "0264011"}}
        platform._say_if_test_mode(Settings.model_validate(twilio))
    [line] = [r for r in caplog.records if r.name == "opaska.platform"]
    assert line.levelno == logging.WARNING
    assert "TEST MODE" in line.getMessage()
    assert "NOT sent" in line.getMessage()


async def test_the_start_up_log_warns_when_unknown_callers_would_reach_nobody(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="opaska.platform"):
        platform._say_if_test_mode(Settings.model_validate({"notify": {"mode": "twilio"}}))
    [line] = [r for r in caplog.records if r.name == "opaska.platform"]
    assert "unknown_caller_municipality" in line.getMessage()


# -- in Chromium -------------------------------------------------------------------------------------------

THIRD = "+48603000003"


async def _open_alarm(browser: Browser, base: str, who: StaffMember, alarm_id: int) -> Page:
    page = await new_page(browser)
    await page.goto(f"{base}/alarms/{alarm_id}")
    await page.fill("#username", who.username)
    await page.fill("#password", who.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{base}/alarms/{alarm_id}")
    return page


async def test_the_relatives_table_in_a_browser(centre: Centre, browser: Browser) -> None:
    """Every kind of delivery and an answer on one alarm page, looked at in Chromium (screenshot)."""
    assert centre.fake is not None
    async with centre.sessions() as session, session.begin():
        await registry.add_contact(
            session, centre.clock, resident_id=centre.seeded.resident_id, name="Jan Kowalski", phone=THIRD, priority=3
        )
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id, "sms", to=FIRST)
    await centre.notify(alarm_id, "voice", to=SECOND)
    await centre.notify(alarm_id, "sms", to=SECOND)
    await centre.notify(alarm_id, "sms", to=THIRD)
    await centre.notify(alarm_id, "voice", to=THIRD)
    await centre.sender.send_due()
    first, second, third = (centre.fake.phone(number) for number in (FIRST, SECOND, THIRD))
    centre.clock.advance(5)
    await (await first.expect_sms()).deliver()
    await (await second.expect_call()).end("busy")
    await (await second.expect_sms()).fail("undelivered")
    await third.expect_sms()  # stays queued
    await (await third.expect_call()).ring()
    centre.clock.advance(60)
    await first.reply(f"TAK {alarm_code(alarm_id)}")

    operator = await create_staff(
        centre.sessions, centre.clock, role="operator", municipality_ids=[centre.seeded.municipality_id]
    )
    base = str(centre.operator.base_url).rstrip("/")
    page = await _open_alarm(browser, base, operator, alarm_id)
    await expect(page.locator("#alarm-going")).to_have_text(re.compile(r"^Jedzie: Anna Kowalska, odp\. \d\d:\d\d$"))
    rows = page.locator("#contacts tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text("doręczony")
    await expect(rows.nth(0)).to_contain_text("TAK — jedzie")
    await expect(rows.nth(1)).to_contain_text("zajęte")
    await expect(rows.nth(1)).to_contain_text("niedoręczony")
    await expect(rows.nth(1)).to_contain_text("brak odpowiedzi")
    await expect(rows.nth(2)).to_contain_text("w kolejce")
    await expect(rows.nth(2)).to_contain_text("dzwoni")
    await expect(page.locator(".test-mode-banner")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#contacts").screenshot(path=str(SCREENSHOTS / "relatives-table.png"))
    await page.screenshot(path=str(SCREENSHOTS / "relatives-alarm-page.png"), full_page=True)


async def test_test_mode_in_a_browser(test_mode_centre: Centre, browser: Browser) -> None:
    centre = test_mode_centre
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id, "sms", to=FIRST)
    await centre.sender.send_due()
    operator = await create_staff(
        centre.sessions, centre.clock, role="operator", municipality_ids=[centre.seeded.municipality_id]
    )
    page = await _open_alarm(browser, str(centre.operator.base_url).rstrip("/"), operator, alarm_id)
    await expect(page.locator(".test-mode-banner")).to_have_text(BANNER)
    await expect(page.locator("#contacts tbody tr").nth(0)).to_contain_text("nie wysłano – tryb próbny")
    await expect(page.locator("#alarm-going")).to_be_hidden()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "relatives-test-mode.png"), full_page=True)
