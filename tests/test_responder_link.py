"""A responder's link: signed for its purpose, a phone page with the address, the way in and the
key-safe code (audited) while the alarm is open; "Jadę" starts the arrival timer, "Jestem na
miejscu" stops it, "Sytuacja opanowana" reports; no arrival in time alerts operators and the
supervisor (the clock moved, not slept). A relative's TAK gets the link in the thanks SMS."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from alarm_center.alarms.model import AlarmEvent
from alarm_center.live import AlarmFeed
from alarm_center.notify.model import Notification
from alarm_center.notify.service import handle_inbound_sms
from alarm_center.notify.status_link import StatusLinks
from alarm_center.notify.templates import alarm_code
from console.app import create_app
from console.context import ConsoleContext
from console.key_safe import set_key_safe_code
from registry.model import Contact, Resident
from simulator.lab.staff import create_staff, log_in
from tests.test_escalation import CONTACT_1, Centre, centre, reasons

pytestmark = pytest.mark.asyncio
__all__ = ["centre"]

LINKS = StatusLinks(b"responder-test-secret", "https://centrum.example.pl", timedelta(hours=24))
DATA_KEY = Fernet(Fernet.generate_key())


def _client(centre: Centre) -> httpx.AsyncClient:
    context = ConsoleContext(
        centre.sessions, AlarmFeed(centre.sessions), run_feed=False, data_key=DATA_KEY, status_links=LINKS
    )
    app = create_app(context, clock=centre.clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


async def _contact_id(centre: Centre) -> int:
    async with centre.sessions() as session:
        return int((await session.execute(select(Contact.id).where(Contact.phone == CONTACT_1))).scalar_one())


async def _path(centre: Centre, alarm: int, contact_id: int | None) -> str:
    url = LINKS.responder_url(alarm_id=alarm, contact_id=contact_id, raised_at=centre.clock.now())
    return url.removeprefix(LINKS.base_url)


async def _events(centre: Centre, alarm: int) -> list[AlarmEvent]:
    async with centre.sessions() as session:
        rows = await session.execute(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm).order_by(AlarmEvent.id))
        return list(rows.scalars())


async def test_the_page_the_buttons_and_the_arrival_timer(centre: Centre) -> None:
    async with centre.sessions() as session, session.begin():
        resident = await session.get(Resident, centre.seeded.resident_id)
        assert resident is not None
        resident.access_notes = "domofon 14, klucz u sąsiadki spod 3"
        await set_key_safe_code(session, DATA_KEY, resident_id=resident.id, code="4711")
    alarm = await centre.raise_alarm()
    await centre.at(0)
    contact_id = await _contact_id(centre)
    page = await _path(centre, alarm, contact_id)
    async with _client(centre) as client:
        shown = await client.get(page)
        assert shown.status_code == 200
        assert shown.headers["cache-control"] == "no-store"
        assert "ul. Legnicka 12/4, Wrocław" in shown.text
        assert "domofon 14, klucz u sąsiadki spod 3" in shown.text
        assert "4711" not in shown.text  # only on request

        # A relative's status token is not a responder's, nor the other way round.
        status_token = LINKS.url(alarm_id=alarm, contact_id=contact_id, raised_at=centre.clock.now()).rsplit("/", 1)[1]
        assert (await client.get(f"/r/{status_token}")).status_code == 404
        assert (await client.get(page.replace("/r/", "/s/"))).status_code == 404

        code = await client.post(f"{page}/key-safe")
        assert code.status_code == 200
        assert re.search(r'id="key-safe-code">4711<', code.text)

        going = await client.post(f"{page}/going")
        assert (going.status_code, going.headers["location"]) == (303, f"{page}?done=going")
        assert "Zapisane: jedziesz" in (await client.get(going.headers["location"])).text
        assert (await centre.escalation(alarm)).state == "arrival"

        await centre.at(600)
        arrived = await client.post(f"{page}/arrived", data={"note": "leży w przedpokoju, przytomna"})
        assert arrived.status_code == 303
        assert (await centre.escalation(alarm)).state == "done"
        handled = await client.post(f"{page}/handled", data={"note": "pomogłam wstać, nic jej nie jest"})
        assert handled.status_code == 303

        # Past the arrival time: no "arrival not confirmed", she is there.
        await centre.at(600 + 1300)
        assert "arrival_not_confirmed" not in await reasons(centre, alarm)

        events = await _events(centre, alarm)
        kinds = [
            (e.type, e.actor_type, e.actor_id, (e.detail or {}).get("rung") or (e.detail or {}).get("action"))
            for e in events
        ]
        assert ("key_safe_code_opened", "contact", contact_id, None) in kinds
        assert ("contact_response", "contact", contact_id, None) in kinds
        assert ("note", "contact", contact_id, "arrived") in kinds
        assert ("note", "contact", contact_id, "responder_report") in kinds

        await centre.claim(alarm)
        await centre.resolve(alarm)
        closed = await client.get(page)
        assert closed.status_code == 410
        assert "ul. Legnicka" not in closed.text
        assert (await client.post(f"{page}/key-safe")).status_code == 410
        assert (await client.post(f"{page}/going")).status_code == 410


async def test_no_arrival_in_time_alerts_operators_and_the_supervisor(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    await centre.at(0)
    page = await _path(centre, alarm, await _contact_id(centre))
    async with _client(centre) as client:
        assert (await client.post(f"{page}/going")).status_code == 303
    await centre.at(1199)
    assert "arrival_not_confirmed" not in await reasons(centre, alarm)
    await centre.at(1201)
    assert await reasons(centre, alarm) == ["relative_going", "arrival_not_confirmed"]


async def test_a_relative_who_answers_tak_gets_the_link(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    await centre.at(0)
    async with centre.sessions() as session, session.begin():
        result = await handle_inbound_sms(
            session,
            from_phone=CONTACT_1,
            body=f"TAK {alarm_code(alarm)}",
            at=centre.clock.now(),
            message_sid="SM1",
            links=LINKS,
        )
    assert result.outcome == "recorded"
    async with centre.sessions() as session:
        thanks = (
            await session.execute(select(Notification.body).where(Notification.template == "reply_thanks"))
        ).scalar_one()
    link = re.search(r"https://centrum\.example\.pl/r/\S+", thanks)
    assert link is not None, thanks
    assert LINKS.read_responder(link.group(0).rsplit("/", 1)[1], now=centre.clock.now()).alarm_id == alarm


async def test_an_operator_texts_the_link_to_a_relative(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    operator = await create_staff(
        centre.sessions, centre.clock, role="operator", municipality_ids=[centre.seeded.municipality_id]
    )
    contact_id = await _contact_id(centre)
    async with _client(centre) as client:
        await log_in(client, operator)
        sent = await client.post(f"/api/alarms/{alarm}/responder-link", json={"contact_id": contact_id})
        assert sent.status_code == 201, sent.text
        bad = await client.post(f"/api/alarms/{alarm}/responder-link", json={"contact_id": 999_999})
        assert bad.status_code == 422
        timeline = [e["text"] for e in (await client.get(f"/api/alarms/{alarm}")).json()["timeline"]]
    async with centre.sessions() as session:
        body = (
            await session.execute(select(Notification.body).where(Notification.template == "responder_link"))
        ).scalar_one()
    assert body.startswith(f"opaska: alarm {alarm_code(alarm)} - Helena.")
    assert "https://centrum.example.pl/r/" in body
    assert any(line.startswith("Link dla jadącego wysłany do: Anna Kowalska") for line in timeline), timeline
