"""An operator's call from the alarm page, end to end: the console (uvicorn) places it with the real
`twilio` library on the fake Twilio, the fake calls back signed over the public URL, and the call's
rows and timeline follow. The operator's phone rings first; when it is answered the far end is
rung with the centre's number into conference alarm-N."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import AlarmEvent, AlarmKind
from alarm_center.live import AlarmFeed
from alarm_center.notify.metrics import WEBHOOKS
from alarm_center.voice.model import VoiceCall
from alarm_center.voice.telephone import OfflineTelephone, Telephone, TelephoneUnavailable
from alarm_center.voice.twilio_telephone import TwilioTelephone
from console.app import create_app
from console.context import ConsoleContext, TwilioHooks
from core.clock import FakeClock
from core.settings import Settings, VoiceSettings
from registry.contacts import list_contacts
from registry.duty import add_shift
from registry.model import Band, Resident, StaffUser
from simulator.fake_twilio import FakeTwilio
from simulator.fake_twilio.records import FakeCall
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.alarms import press
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

PUBLIC = "https://alarm.opaska.example"
OURS = "+48221234567"
BAND_SIM = "+48500100200"
RESIDENT_PHONE = "+48710000001"
RELATIVE = "+48601234567"  # the seeded contact ("601 234 567")
RESPONDER = "+48602000003"
ANNA_PHONE = "+48603000001"
JAN_PHONE = "+48603000002"


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    fake: FakeTwilio
    seeded: SeededBand
    url: str
    anna: StaffMember
    jan: StaffMember
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def as_(self, member: StaffMember) -> httpx.AsyncClient:
        if member.username not in self.clients:
            client = httpx.AsyncClient(base_url=self.url, timeout=20)
            await log_in(client, member)
            self.clients[member.username] = client
        return self.clients[member.username]

    async def sos(self) -> int:
        return await press(self.sessions, self.seeded, AlarmKind.SOS, at=self.clock.now())

    async def call(
        self, alarm_id: int, member: StaffMember, target: str, target_id: int | None = None
    ) -> httpx.Response:
        client = await self.as_(member)
        return await client.post(f"/api/alarms/{alarm_id}/calls", json={"target": target, "target_id": target_id})

    async def call_events(self, alarm_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent)
                .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "call")
                .order_by(AlarmEvent.id)
            )
            return [{**event.detail, "actor": event.actor_type} for event in rows.scalars()]

    async def row(self, call_id: int) -> VoiceCall:
        async with self.sessions() as session:
            row = await session.get(VoiceCall, call_id)
            assert row is not None
            return row

    def only_call_to(self, number: str) -> FakeCall:
        calls = self.fake.calls_to(number)
        assert len(calls) == 1, [c.to for c in self.fake.calls]
        return calls[0]


async def _serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    return server, serving, port


@contextlib.asynccontextmanager
async def running_centre(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, *, offline: bool = False
) -> AsyncIterator[Centre]:
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        band = await session.get(Band, seeded.band_id)
        resident = await session.get(Resident, seeded.resident_id)
        assert band is not None
        assert resident is not None
        band.sim_phone, resident.phone = BAND_SIM, RESIDENT_PHONE
        await add_shift(
            session,
            role="responder",
            name="Marek Dyżurny",
            phone=RESPONDER,
            starts_at=clock.now() - timedelta(hours=1),
            ends_at=clock.now() + timedelta(hours=8),
            created_at=clock.now(),
        )
    anna = await create_staff(sessions, clock, municipality_ids=[seeded.municipality_id], full_name="Anna Operatorka")
    jan = await create_staff(sessions, clock, municipality_ids=[seeded.municipality_id], full_name="Jan Operator")
    async with sessions() as session, session.begin():
        for member, phone in ((anna, ANNA_PHONE), (jan, JAN_PHONE)):
            staff = await session.get(StaffUser, member.id)
            assert staff is not None
            staff.phone = phone
    fake = FakeTwilio(phone_number=OURS, now=clock.now)
    async with fake:
        telephone: Telephone = (
            OfflineTelephone() if offline else TwilioTelephone(fake.client(), from_number=OURS, timeout_s=5)
        )
        context = ConsoleContext(
            sessions,
            AlarmFeed(sessions),
            run_feed=False,
            twilio_hooks=TwilioHooks(fake.auth_token, PUBLIC, clock),
            telephone=telephone,
            voice=VoiceSettings(operator_ring_s=25, far_ring_s=35),
        )
        server, serving, port = await _serve(create_app(context, clock=clock))
        fake.url_map[PUBLIC] = f"http://127.0.0.1:{port}"
        centre = Centre(sessions, clock, fake, seeded, f"http://127.0.0.1:{port}", anna, jan)
        try:
            yield centre
        finally:
            for client in centre.clients.values():
                await client.aclose()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    async with running_centre(sessions, clock) as running:
        yield running


def _events(details: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(d["event"], d.get("leg")) for d in details]


async def _bridge(
    centre: Centre, alarm_id: int, target: str, number: str, target_id: int | None = None
) -> tuple[int, FakeCall, FakeCall]:
    """Place a call, answer the operator's phone: the far end rings. (call id, operator leg, far leg)."""
    placed = await centre.call(alarm_id, centre.anna, target, target_id)
    assert placed.status_code == 201, placed.text
    call_id = placed.json()["id"]
    operator = centre.only_call_to(ANNA_PHONE)
    twiml = await centre.fake.answer_call(operator.sid)
    assert f"alarm-{alarm_id}</Conference>" in twiml
    return call_id, operator, centre.only_call_to(number)


async def test_an_sos_call_to_the_band_rings_the_operator_then_bridges_to_the_band(centre: Centre) -> None:
    alarm_id = await centre.sos()
    placed = await centre.call(alarm_id, centre.anna, "band")
    assert placed.status_code == 201, placed.text
    view = placed.json()
    assert view["target"] == "band"
    assert view["target_name"] == f"opaska {centre.seeded.serial}"
    assert (view["number"], view["status"], view["live"]) == (BAND_SIM, "calling_operator", True)
    assert (view["staff_id"], view["staff_name"], view["direction"]) == (centre.anna.id, "Anna Operatorka", "outbound")

    # Calling about an alarm nobody had taken takes it: the escalation stops ringing colleagues.
    detail = (await (await centre.as_(centre.anna)).get(f"/api/alarms/{alarm_id}")).json()
    assert (detail["alarm"]["status"], detail["claimed_by_name"]) == ("claimed", "Anna Operatorka")
    [claimed] = [entry for entry in detail["timeline"] if entry["type"] == "claimed"]
    assert claimed["detail"]["call_id"] == view["id"]

    # The operator's phone rings first, from the centre's number; nothing goes to the band yet.
    operator = centre.only_call_to(ANNA_PHONE)
    call_id = view["id"]
    assert operator.from_ == OURS
    assert operator.url == f"{PUBLIC}/twilio/voice/calls/{call_id}/operator"
    assert operator.status_callback == f"{PUBLIC}/twilio/voice/calls/{call_id}/status?leg=operator"
    assert operator.form.get("Timeout") == ["25"]
    assert centre.fake.calls_to(BAND_SIM) == []

    # The operator answers: told whom, into the conference; then the band's SIM rings, as the centre.
    twiml = await centre.fake.answer_call(operator.sid)
    assert "Łączę z opaską: Helena Kowalska." in twiml
    assert f">alarm-{alarm_id}</Conference></Dial>" in twiml
    band_leg = centre.only_call_to(BAND_SIM)
    assert band_leg.from_ == OURS
    assert band_leg.url == f"{PUBLIC}/twilio/voice/calls/{call_id}/far"
    assert band_leg.form.get("Timeout") == ["35"]
    row = await centre.row(call_id)
    assert (row.status, row.operator_call_sid, row.far_call_sid) == ("ringing", operator.sid, band_leg.sid)

    far_twiml = await centre.fake.answer_call(band_leg.sid)
    assert f">alarm-{alarm_id}</Conference></Dial>" in far_twiml
    assert (await centre.row(call_id)).status == "in_progress"

    # Everyone sees it live on the alarm.
    jan = await centre.as_(centre.jan)
    detail = (await jan.get(f"/api/alarms/{alarm_id}")).json()
    [live] = detail["calls"]
    assert (live["id"], live["status"], live["live"], live["staff_name"]) == (
        call_id,
        "in_progress",
        True,
        "Anna Operatorka",
    )

    centre.clock.advance(75)
    done = await centre.fake.call_status(band_leg.sid, "completed")
    assert done is not None
    assert done.status == 200
    row = await centre.row(call_id)
    assert (row.status, row.duration_s, row.ended_at) == ("completed", 75, centre.clock.now())
    events = await centre.call_events(alarm_id)
    assert _events(events) == [
        ("placed", None),
        ("operator_answered", "operator"),
        ("ringing", "far"),
        ("answered", "far"),
        ("completed", "far"),
    ]
    assert events[0] | {} == {
        "call_id": call_id,
        "direction": "outbound",
        "target": "band",
        "target_id": centre.seeded.band_id,
        "event": "placed",
        "target_name": f"opaska {centre.seeded.serial}",
        "number": "+48500***200",
        "actor": "staff",
    }
    assert events[-1]["duration_s"] == 75
    assert {e["actor"] for e in events[1:]} == {"system"}

    # Replayed callbacks (Twilio retrying, or someone replaying them) change nothing.
    for callback in list(centre.fake.callbacks):
        if "/twilio/voice/calls/" in callback.url and "status" in callback.url:
            again = await centre.fake.post_signed(callback.url, callback.params)
            assert again.status == 200
    assert await centre.call_events(alarm_id) == events
    assert (await centre.row(call_id)).duration_s == 75
    detail = (await jan.get(f"/api/alarms/{alarm_id}")).json()
    assert detail["calls"][0]["live"] is False
    assert detail["calls"][0]["duration_s"] == 75


@pytest.mark.parametrize(
    ("twilio_status", "event", "status"),
    [("busy", "busy", "busy"), ("no-answer", "no_answer", "no_answer"), ("failed", "failed", "failed")],
)
async def test_a_far_leg_that_does_not_talk_is_its_own_timeline_entry(
    centre: Centre, twilio_status: str, event: str, status: str
) -> None:
    alarm_id = await centre.sos()
    call_id, _, far = await _bridge(centre, alarm_id, "resident", RESIDENT_PHONE)
    await centre.fake.call_status(far.sid, "ringing")
    await centre.fake.call_status(far.sid, twilio_status)
    row = await centre.row(call_id)
    assert (row.status, row.duration_s, row.ended_at is not None) == (status, None, True)
    events = await centre.call_events(alarm_id)
    assert _events(events)[-1] == (event, "far")
    assert events[-1]["error"] == twilio_status
    # The operator can call again at once: the number is free.
    again = await centre.call(alarm_id, centre.anna, "resident")
    assert again.status_code == 201, again.text


async def test_a_second_operator_is_told_who_is_already_calling_that_number(centre: Centre) -> None:
    alarm_id = await centre.sos()
    first = await centre.call(alarm_id, centre.anna, "band")
    assert first.status_code == 201
    second = await centre.call(alarm_id, centre.jan, "band")
    assert second.status_code == 409
    assert "Anna Operatorka" in second.json()["detail"]
    assert second.json()["call"]["id"] == first.json()["id"]
    assert centre.fake.calls_to(JAN_PHONE) == []
    # Another number of the same alarm is free.
    other = await centre.call(alarm_id, centre.jan, "resident")
    assert other.status_code == 201, other.text


async def test_an_operator_without_a_phone_is_told_how_to_set_it(centre: Centre) -> None:
    alarm_id = await centre.sos()
    async with centre.sessions() as session, session.begin():
        staff = await session.get(StaffUser, centre.anna.id)
        assert staff is not None
        staff.phone = None
    refused = await centre.call(alarm_id, centre.anna, "band")
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "operator_phone"]
    assert "/account" in problem["msg"]
    assert "opaska user phone" in problem["msg"]
    assert centre.fake.calls == []


async def test_a_target_without_a_number_is_refused_with_the_reason(centre: Centre) -> None:
    alarm_id = await centre.sos()
    async with centre.sessions() as session, session.begin():
        band = await session.get(Band, centre.seeded.band_id)
        assert band is not None
        band.sim_phone = None
    refused = await centre.call(alarm_id, centre.anna, "band")
    assert refused.status_code == 422
    assert "nie ma numeru karty SIM" in refused.json()["detail"][0]["msg"]
    targets = (await (await centre.as_(centre.anna)).get(f"/api/alarms/{alarm_id}/call-targets")).json()
    assert [(t["target"], t["number"]) for t in targets] == [
        ("band", None),
        ("resident", RESIDENT_PHONE),
        ("contact", RELATIVE),
        ("responder", RESPONDER),
    ]
    assert targets[0]["reason"] == "opaska nie ma numeru karty SIM"


async def test_three_way_adds_a_contact_to_the_same_conference_and_the_operator_can_drop_out(centre: Centre) -> None:
    alarm_id = await centre.sos()
    call_id, operator, band_leg = await _bridge(centre, alarm_id, "band", BAND_SIM)
    await centre.fake.answer_call(band_leg.sid)
    async with centre.sessions() as session:
        [contact] = await list_contacts(session, resident_id=centre.seeded.resident_id)

    anna = await centre.as_(centre.anna)
    added = await anna.post(
        f"/api/alarms/{alarm_id}/calls/{call_id}/add", json={"target": "contact", "target_id": contact.id}
    )
    assert added.status_code == 201, added.text
    relative = centre.only_call_to(RELATIVE)
    assert relative.from_ == OURS
    assert relative.url == f"{PUBLIC}/twilio/voice/calls/{added.json()['id']}/far"
    assert f">alarm-{alarm_id}</Conference>" in await centre.fake.answer_call(relative.sid)
    events = await centre.call_events(alarm_id)
    [add] = [e for e in events if e["event"] == "added"]
    assert (add["target"], add["target_id"], add["to_call_id"], add["actor"]) == (
        "contact",
        contact.id,
        call_id,
        "staff",
    )

    # The operator hangs up their own phone: the band and the relative talk on.
    await centre.fake.call_status(operator.sid, "completed")
    assert (await centre.row(call_id)).status == "in_progress"
    assert (await centre.row(added.json()["id"])).status == "in_progress"

    # "Rozłącz" on the relative's leg ends it (Twilio reports completed).
    hung = await anna.post(f"/api/alarms/{alarm_id}/calls/{added.json()['id']}/hang-up")
    assert hung.status_code == 200, hung.text
    await centre.fake.call_status(relative.sid, "completed")
    assert (await centre.row(added.json()["id"])).status == "completed"
    assert [e["event"] for e in await centre.call_events(alarm_id)][-2:] == ["hung_up", "completed"]


async def test_adding_to_a_call_the_operator_has_not_answered_is_refused(centre: Centre) -> None:
    alarm_id = await centre.sos()
    placed = await centre.call(alarm_id, centre.anna, "band")
    anna = await centre.as_(centre.anna)
    added = await anna.post(f"/api/alarms/{alarm_id}/calls/{placed.json()['id']}/add", json={"target": "resident"})
    assert added.status_code == 409


async def test_the_operator_not_answering_ends_the_call_before_the_far_end_rings(centre: Centre) -> None:
    alarm_id = await centre.sos()
    placed = await centre.call(alarm_id, centre.anna, "band")
    operator = centre.only_call_to(ANNA_PHONE)
    await centre.fake.call_status(operator.sid, "no-answer")
    assert (await centre.row(placed.json()["id"])).status == "no_answer"
    assert _events(await centre.call_events(alarm_id))[-1] == ("no_answer", "operator")
    assert centre.fake.calls_to(BAND_SIM) == []


async def test_hanging_up_before_the_bridge_is_on_the_timeline(centre: Centre) -> None:
    alarm_id = await centre.sos()
    placed = await centre.call(alarm_id, centre.anna, "responder")
    assert placed.json()["target_name"] == "Marek Dyżurny"
    anna = await centre.as_(centre.anna)
    hung = await anna.post(f"/api/alarms/{alarm_id}/calls/{placed.json()['id']}/hang-up")
    assert hung.status_code == 200
    operator = centre.only_call_to(ANNA_PHONE)
    await centre.fake.call_status(operator.sid, "canceled")
    assert (await centre.row(placed.json()["id"])).status == "canceled"
    assert _events(await centre.call_events(alarm_id))[-2:] == [("hung_up", None), ("canceled", "operator")]


async def test_forged_or_unsigned_status_callbacks_are_refused_and_counted(centre: Centre) -> None:
    alarm_id = await centre.sos()
    placed = await centre.call(alarm_id, centre.anna, "band")
    operator = centre.only_call_to(ANNA_PHONE)
    before = WEBHOOKS.labels("voice_status", "forbidden")._value.get()
    forged = await centre.fake.call_status(operator.sid, "in-progress", sign_with="0" * 32)
    assert forged is not None
    assert forged.status == 403
    unsigned = await centre.fake.post_signed(
        f"{PUBLIC}/twilio/voice/calls/{placed.json()['id']}/operator", {"CallSid": operator.sid}, signed=False
    )
    assert unsigned.status == 403
    assert WEBHOOKS.labels("voice_status", "forbidden")._value.get() == before + 1
    assert (await centre.row(placed.json()["id"])).status == "calling_operator"
    assert centre.fake.calls_to(BAND_SIM) == []


async def test_offline_telephone_is_503_with_the_number_to_dial(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with running_centre(sessions, clock, offline=True) as centre:
        alarm_id = await centre.sos()
        refused = await centre.call(alarm_id, centre.anna, "resident")
        assert refused.status_code == 503
        body = refused.json()
        assert body["number"] == RESIDENT_PHONE
        assert "zadzwoń ręcznie" in body["detail"]
        assert RESIDENT_PHONE in body["detail"]
        assert _events(await centre.call_events(alarm_id)) == [("placed", None), ("failed", "operator")]
        # Not live: calling again (say, once Twilio is back) is not refused as a duplicate.
        again = await centre.call(alarm_id, centre.anna, "resident")
        assert again.status_code == 503


async def test_twilio_refusing_the_call_is_503(centre: Centre) -> None:
    alarm_id = await centre.sos()
    centre.fake.fail_next(1, status=500)
    refused = await centre.call(alarm_id, centre.anna, "band")
    assert refused.status_code == 503
    assert refused.json()["number"] == BAND_SIM
    assert "Twilio" in refused.json()["detail"]


async def test_the_operator_sets_their_phone_on_the_account_page_api(centre: Centre) -> None:
    anna = await centre.as_(centre.anna)
    ok = await anna.put("/api/me/phone", json={"phone": "603 000 009"})
    assert ok.status_code == 200
    assert ok.json() == {"phone": "+48603000009"}
    sip = await anna.put("/api/me/phone", json={"phone": "sip:anna@centrala.example.pl"})
    assert sip.json() == {"phone": "sip:anna@centrala.example.pl"}
    bad = await anna.put("/api/me/phone", json={"phone": "12"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "phone"]
    assert "nieprawidłowy numer" in bad.json()["detail"][0]["msg"]
    assert (await anna.get("/api/me/phone")).json() == {"phone": "sip:anna@centrala.example.pl"}
    cleared = await anna.put("/api/me/phone", json={"phone": None})
    assert cleared.json() == {"phone": None}


async def test_the_telephone_is_twilio_only_in_twilio_mode_with_its_settings() -> None:
    complete = {
        "account_sid": "AC" + "0" * 32,
        "auth_token": "token",
        "from_number": OURS,
        "public_url": PUBLIC,
        "api_base_url": "http://127.0.0.1:9",
    }
    assert TwilioTelephone.from_settings(Settings(notify={"mode": "outbox"}, twilio=complete)) is None  # type: ignore[arg-type]
    partial = complete | {"auth_token": ""}
    assert TwilioTelephone.from_settings(Settings(notify={"mode": "twilio"}, twilio=partial)) is None  # type: ignore[arg-type]
    telephone = TwilioTelephone.from_settings(Settings(notify={"mode": "twilio"}, twilio=complete))  # type: ignore[arg-type]
    assert telephone is not None
    # Twilio unreachable: said at once, in Polish, for the operator to dial by hand.
    with pytest.raises(TelephoneUnavailable, match="zadzwoń ręcznie"):
        await telephone.call(to=BAND_SIM, twiml_url=f"{PUBLIC}/x", status_url=f"{PUBLIC}/y", timeout_s=30)
    await telephone.aclose()


async def test_hanging_up_a_call_twilio_no_longer_knows_is_no_error(centre: Centre) -> None:
    telephone = TwilioTelephone(centre.fake.client(), from_number=OURS, timeout_s=5)
    await telephone.hang_up("CA" + "f" * 32)


async def _inbound_row(centre: Centre, alarm_id: int) -> int:
    """A band's call in, answered by Anna: as inbound.py leaves it when her phone is being rung."""
    async with centre.sessions() as session, session.begin():
        row = VoiceCall(
            alarm_id=alarm_id,
            direction="inbound",
            staff_id=centre.anna.id,
            operator_address=ANNA_PHONE,
            target="band",
            target_id=centre.seeded.band_id,
            number=BAND_SIM,
            room=f"alarm-{alarm_id}",
            status="answering",
            far_call_sid="CA" + "b" * 32,
            created_at=centre.clock.now(),
            updated_at=centre.clock.now(),
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_the_answering_operators_leg_of_a_call_in_moves_it(centre: Centre) -> None:
    alarm_id = await centre.sos()
    call_id = await _inbound_row(centre, alarm_id)
    url = f"{PUBLIC}/twilio/voice/calls/{call_id}/status?leg=operator"
    leg = {"CallSid": "CA" + "a" * 32, "AccountSid": centre.fake.account_sid}
    assert (await centre.fake.post_signed(url, leg | {"CallStatus": "in-progress"})).status == 200
    assert (await centre.row(call_id)).status == "in_progress"
    ended = leg | {"CallStatus": "completed", "CallDuration": "42"}
    for _ in range(2):  # replayed: once
        assert (await centre.fake.post_signed(url, ended)).status == 200
    row = await centre.row(call_id)
    assert (row.status, row.duration_s) == ("completed", 42)
    assert _events(await centre.call_events(alarm_id)) == [("answered", "operator"), ("completed", "operator")]


async def test_an_operator_not_picking_up_a_call_in_puts_it_back_in_the_queue(centre: Centre) -> None:
    alarm_id = await centre.sos()
    call_id = await _inbound_row(centre, alarm_id)
    url = f"{PUBLIC}/twilio/voice/calls/{call_id}/status?leg=operator"
    await centre.fake.post_signed(url, {"CallSid": "CA" + "a" * 32, "CallStatus": "no-answer"})
    row = await centre.row(call_id)
    assert (row.status, row.staff_id, row.operator_call_sid) == ("queued", None, None)
    [event] = await centre.call_events(alarm_id)
    assert (event["event"], event["leg"], event["operator_id"], event["actor"]) == (
        "no_answer",
        "operator",
        centre.anna.id,
        "system",
    )


async def test_the_account_page_is_linked_from_every_pages_header(centre: Centre) -> None:
    anna = await centre.as_(centre.anna)
    page = await anna.get("/account")
    assert page.status_code == 200
    assert "Mój telefon do rozmów z alarmów" in page.text
    assert '<script src="/static/account.js"></script>' in page.text
    assert 'href="/account"' in (await anna.get("/")).text
    async with httpx.AsyncClient(base_url=centre.url) as stranger:
        assert (await stranger.get("/account")).status_code == 303
