"""A relative's status link: the alert SMS carries a signed, expiring link; the page behind it shows
where the alarm stands with no login, says nothing the SMS did not, and refuses altered or expired
links."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Actor, Move, Outcome, apply_move
from alarm_center.alarms.model import AlarmKind
from alarm_center.escalation.policy import load_policies
from alarm_center.live import AlarmFeed
from alarm_center.notify.service import Answer, record_response
from alarm_center.notify.status_link import StatusLinks
from alarm_center.notify.templates import alert_text
from console.context import ConsoleContext
from console.relative_status import router
from core.clock import FakeClock
from core.settings import PROJECT_ROOT
from registry import service as registry
from registry.model import Contact
from simulator.lab.staff import create_staff
from tests.support.alarms import press
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

POLICIES = load_policies(PROJECT_ROOT / "config" / "escalation.toml")
LINKS = StatusLinks(b"k" * 32, "https://alarm.opaska.example", timedelta(hours=24))
TOKEN = re.compile(r"https://alarm\.opaska\.example/s/(\S+)")


@pytest_asyncio.fixture
async def page(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.context = ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, status_links=LINKS)
    app.state.clock = clock
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


async def sos(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, seeded: SeededBand) -> int:
    return await press(sessions, seeded, AlarmKind.SOS, at=clock.now(), policies=POLICIES)


async def sms_link(sessions: async_sessionmaker[AsyncSession], alarm_id: int, contact_id: int) -> str:
    async with sessions() as session:
        _, body = await alert_text(session, alarm_id=alarm_id, channel="sms", contact_id=contact_id, links=LINKS)
    match = TOKEN.search(body)
    assert match is not None, body
    return f"/s/{match.group(1)}"


async def test_a_relative_follows_the_alarm_from_the_link_in_the_sms(
    page: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock, first_name="Helena", last_name="Kowalska")
    alarm_id = await sos(sessions, clock, seeded)
    async with sessions() as session, session.begin():
        contact_id = (
            await session.execute(select(Contact.id).where(Contact.resident_id == seeded.resident_id))
        ).scalar_one()
    staff_id = (await create_staff(sessions, clock, full_name="Op", municipality_ids=[seeded.municipality_id])).id
    link = await sms_link(sessions, alarm_id, contact_id)

    shown = await page.get(link)
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    assert "Helena" in shown.text
    assert "przyjęło zgłoszenie" in shown.text
    assert 'http-equiv="refresh"' in shown.text
    for private in ("Kowalska", "Legnicka", "601"):  # no surname, address or numbers: only what the SMS says
        assert private not in shown.text

    clock.advance(40)
    async with sessions() as session, session.begin():
        await apply_move(session, at=clock.now(), alarm_id=alarm_id, move=Move.CLAIM, actor=Actor.staff(staff_id))
        await record_response(
            session, alarm_id=alarm_id, contact_id=contact_id, answer=Answer.GOING, via="sms", at=clock.now()
        )
    shown = await page.get(link)
    assert "Operator centrum alarmowego zajmuje się zgłoszeniem" in shown.text
    assert "potwierdziła, że jedzie" in shown.text

    async with sessions() as session, session.begin():
        await apply_move(
            session,
            at=clock.now(),
            alarm_id=alarm_id,
            move=Move.RESOLVE,
            actor=Actor.staff(staff_id),
            outcome=Outcome.AMBULANCE_CALLED,
            note="wezwano ZRM",
        )
    shown = await page.get(link)
    assert "Wezwano pogotowie ratunkowe" in shown.text
    assert "wezwano ZRM" not in shown.text  # the operator's note stays in the centre
    assert 'http-equiv="refresh"' not in shown.text

    clock.advance(24 * 3600)
    assert (await page.get(link)).status_code == 410


async def test_an_altered_or_foreign_link_shows_nothing(
    page: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    alarm_id = await sos(sessions, clock, seeded)
    async with sessions() as session:
        contact_id = (
            await session.execute(select(Contact.id).where(Contact.resident_id == seeded.resident_id))
        ).scalar_one()
    link = await sms_link(sessions, alarm_id, contact_id)
    payload, signature = link.removeprefix("/s/").split(".")
    other = StatusLinks(b"x" * 32, LINKS.base_url, LINKS.valid_for)
    forged = other.token(alarm_id=alarm_id, contact_id=contact_id, expires=clock.now() + timedelta(hours=1))
    for bad in (f"/s/{payload}.{signature[:-2]}AA", f"/s/{payload}", "/s/..", f"/s/{forged}", "/s/%00"):
        answer = await page.get(bad)
        assert answer.status_code == 404, bad
        assert "Helena" not in answer.text


async def test_an_english_contact_reads_it_in_english_and_no_secret_means_no_link(
    page: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        contact = await registry.add_contact(
            session, clock, resident_id=seeded.resident_id, name="Peter", phone="602 000 002", priority=2, language="en"
        )
        contact_id = contact.id
    alarm_id = await sos(sessions, clock, seeded)
    shown = await page.get(await sms_link(sessions, alarm_id, contact_id))
    assert "The alarm centre has received the alarm" in shown.text

    async with sessions() as session:
        _, body = await alert_text(session, alarm_id=alarm_id, channel="sms", contact_id=contact_id, links=None)
    assert "/s/" not in body
