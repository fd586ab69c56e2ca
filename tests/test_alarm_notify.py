"""An operator notifies a relative by hand from an alarm: an outbox row and an audited alarm event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.lifecycle import Actor, Move, Outcome, apply_move
from alarm_center.alarms.model import AlarmEvent, AlarmKind
from alarm_center.escalation.policy import load_policies
from alarm_center.live import AlarmFeed
from alarm_center.notify.model import Notification
from console.alarm_notify import get_clock
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from registry import service
from registry.model import Band, Contact
from registry.traffic.messages import BandMessage
from simulator.lab.staff import create_staff, log_in
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

POLICIES = """
[kinds]
sos = "quiet"
fall = "quiet"
band_offline = "quiet"
battery_low = "quiet"
not_worn = "quiet"
voice_call = "quiet"
no_checkin = "quiet"
left_zone = "quiet"
welfare_call = "quiet"
canary = "quiet"
canary_lost = "quiet"

[policies.quiet]
steps = [{ after_s = 0, channel = "console", targets = ["operators"] }]
"""


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    seeded: SeededBand
    contact_id: int
    english_contact_id: int
    staff_id: int
    http: httpx.AsyncClient
    policies: Path

    async def raise_sos(self, seeded: SeededBand | None = None) -> int:
        seeded = seeded or self.seeded
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            band = await session.get(Band, seeded.band_id)
            assert band is not None
            message = BandMessage(band_id=band.id, message_id=uuid.uuid4().hex, kind="sos", received_at=now, payload={})
            session.add(message)
            await session.flush()
            result = await raise_or_merge(
                session,
                band=band,
                resident_municipality_id=seeded.municipality_id,
                kind=AlarmKind.SOS,
                band_message_id=message.id,
                received_at=now,
                policies=load_policies(self.policies),
            )
            return result.alarm_id

    async def notify(self, alarm_id: int, **body: object) -> httpx.Response:
        payload = {"contact_id": self.contact_id, "channel": "sms", **body}
        return await self.http.post(f"/api/alarms/{alarm_id}/notify", json=payload)

    async def notifications(self, alarm_id: int) -> list[Notification]:
        async with self.sessions() as session:
            rows = await session.execute(select(Notification).where(Notification.alarm_id == alarm_id))
            return list(rows.scalars())

    async def events(self, alarm_id: int) -> list[AlarmEvent]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
            )
            return list(rows.scalars())


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path) -> AsyncIterator[Centre]:
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        english = await service.add_contact(
            session, clock, resident_id=seeded.resident_id, name="John Smith", phone="602 345 678", priority=2
        )
        english.language = "en"
        first = (
            await session.execute(
                select(Contact).where(Contact.resident_id == seeded.resident_id, Contact.priority == 1)
            )
        ).scalar_one()
        contact_ids = (first.id, english.id)
    operator = await create_staff(
        sessions, clock, role="operator", municipality_ids=[seeded.municipality_id], full_name="Ola Operator"
    )
    policies = tmp_path / "escalation.toml"
    policies.write_text(POLICIES)
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False))
    app.dependency_overrides[get_clock] = lambda: clock
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        # The staff member who asks is the one logged in.
        await log_in(http, operator)
        yield Centre(sessions, clock, seeded, *contact_ids, operator.id, http, policies)


async def test_an_operator_texts_a_relative_from_the_alarm(centre: Centre) -> None:
    alarm = await centre.raise_sos()
    centre.clock.advance(40)
    response = await centre.notify(alarm)
    assert response.status_code == 201, response.text
    result = response.json()
    assert (result["alarm_id"], result["contact_id"], result["channel"], result["status"]) == (
        alarm,
        centre.contact_id,
        "sms",
        "pending",
    )
    assert result["to_phone"] == "+48601234567"

    [row] = await centre.notifications(alarm)
    assert (row.id, row.status, row.channel, row.to_phone, row.template) == (
        result["notification_id"],
        "pending",
        "sms",
        "+48601234567",
        "sms_alert",
    )
    # The relative's text: the resident's first name and the code to answer with, nothing more.
    assert "Helena" in row.body
    assert f"TAK {alarm}" in row.body
    assert "Kowalska" not in row.body
    assert row.created_at == centre.clock.now()

    event = (await centre.events(alarm))[-1]
    assert (event.id, event.type, event.actor_type, event.actor_id, event.at) == (
        result["event_id"],
        "escalated",
        "staff",
        centre.staff_id,
        centre.clock.now(),
    )
    assert event.detail == {
        "by_hand": True,
        "channel": "sms",
        "targets": ["contacts"],
        "contact_id": centre.contact_id,
        "notification_ids": [row.id],
    }


async def test_a_double_click_tells_the_relative_once(centre: Centre) -> None:
    alarm = await centre.raise_sos()
    assert (await centre.notify(alarm)).status_code == 201
    again = await centre.notify(alarm)
    assert again.status_code == 409
    assert "in the last 60 s" in again.json()["detail"]
    assert len(await centre.notifications(alarm)) == 1
    # A call to the same relative is another thing, and a minute later a new SMS is fine.
    assert (await centre.notify(alarm, channel="voice")).status_code == 201
    centre.clock.advance(61)
    assert (await centre.notify(alarm)).status_code == 201


async def test_a_call_in_the_contacts_language(centre: Centre) -> None:
    alarm = await centre.raise_sos()
    async with centre.sessions() as session, session.begin():
        await apply_move(
            session, at=centre.clock.now(), alarm_id=alarm, move=Move.CLAIM, actor=Actor.staff(centre.staff_id)
        )
    response = await centre.notify(alarm, contact_id=centre.english_contact_id, channel="voice")
    assert response.status_code == 201, response.text
    [row] = await centre.notifications(alarm)
    assert (row.channel, row.to_phone, row.template) == ("voice", "+48602345678", "voice_alert")
    assert "Helena" in row.body
    # English, not the Polish default.
    assert "alarm" in row.body.lower()
    assert "Podopieczn" not in row.body


async def test_unknown_alarm_is_404(centre: Centre) -> None:
    response = await centre.notify(999_999)
    assert response.status_code == 404
    assert "999999" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"contact_id": "one"}, "contact_id"),
        ({"staff_id": 7}, "staff_id"),  # who asks is the login, not a field
        ({"contact_id": 0}, "contact_id"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_fields_are_422_with_the_field_named(centre: Centre, body: dict[str, object], field: str) -> None:
    alarm = await centre.raise_sos()
    response = await centre.notify(alarm, **body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    assert await centre.notifications(alarm) == []


async def test_a_contact_of_another_resident_is_refused(centre: Centre) -> None:
    alarm = await centre.raise_sos()
    other = await seed_resident_with_band(centre.sessions, centre.clock, first_name="Zofia")
    async with centre.sessions() as session:
        stranger = (await session.execute(select(Contact).where(Contact.resident_id == other.resident_id))).scalar_one()
    response = await centre.notify(alarm, contact_id=stranger.id)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "contact_id"]
    assert "not a contact of this alarm's resident" in error["msg"]
    assert await centre.notifications(alarm) == []
    assert [event.type for event in await centre.events(alarm)] == ["raised"]


async def test_a_closed_alarm_is_409_and_nothing_is_queued(centre: Centre) -> None:
    alarm = await centre.raise_sos()
    async with centre.sessions() as session, session.begin():
        now, staff = centre.clock.now(), Actor.staff(centre.staff_id)
        await apply_move(session, at=now, alarm_id=alarm, move=Move.CLAIM, actor=staff)
        await apply_move(
            session,
            at=now,
            alarm_id=alarm,
            move=Move.RESOLVE,
            actor=staff,
            outcome=Outcome.RESIDENT_OK,
            note="Called Helena: she is fine.",
        )
    events_before = len(await centre.events(alarm))
    response = await centre.notify(alarm)
    assert response.status_code == 409
    assert "resolved" in response.json()["detail"]
    assert await centre.notifications(alarm) == []
    assert len(await centre.events(alarm)) == events_before
