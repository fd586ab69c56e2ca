"""Calls to the centre's number: who is calling (a band's SIM, a resident, a relative, a stranger), which
alarm the call joins or raises, the queue the caller waits in, an operator answering from the alarm
page, a caller who gives up, and a call nobody answers escalating like any unclaimed alarm.

Twilio's webhooks are POSTed signed exactly as Twilio signs them (over the public URL); the operator's
phone is rung through the real `twilio` client (TwilioTelephone) against the fake Twilio's Calls.json.
The fake's voice model acting the whole call out is tests/test_voice_inbound_e2e.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmKind
from alarm_center.escalation.policy import load_policies
from alarm_center.escalation.presence import record_console
from alarm_center.escalation.worker import EscalationWorker
from alarm_center.live import AlarmFeed
from alarm_center.notify.model import Notification
from alarm_center.voice.model import VoiceCall
from alarm_center.voice.twilio_telephone import TwilioTelephone
from console.app import create_app
from console.context import ConsoleContext, TwilioHooks
from core.clock import FakeClock
from core.settings import PROJECT_ROOT, VoiceSettings
from registry import service
from registry.duty import add_shift
from registry.model import Band, Municipality, Resident, StaffUser
from registry.traffic.messages import BandMessage
from simulator.fake_twilio import FakeTwilio
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [
    pytest.mark.asyncio,
    # twilio 9.13 still hands aiohttp 3.14 a BasicAuth; not ours to fix.
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

PUBLIC = "https://alarm.opaska.example"
CENTRE = "+48221234567"
BAND_SIM = "+48500100200"
RESIDENT_PHONE = "+48713334455"
RELATIVE = "+48601234567"  # the seeded contact ("601 234 567")
STRANGER = "+48609999999"
OPERATOR_PHONE = "+48600000001"
OPERATOR2_PHONE = "+48600000002"
RESPONDER_PHONE = "+48713000009"
POLICIES = PROJECT_ROOT / "config" / "escalation.toml"


def forbidden_count(hook: str) -> float:
    value = REGISTRY.get_sample_value("opaska_twilio_webhooks_total", {"hook": hook, "result": "forbidden"})
    return value or 0.0


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    fake: FakeTwilio
    home: SeededBand
    unknown_municipality_id: int
    staff: dict[str, StaffMember]
    app: Any
    twilio: httpx.AsyncClient
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def signed(self, path: str, params: dict[str, str]) -> dict[str, str]:
        return {"X-Twilio-Signature": RequestValidator(self.fake.auth_token).compute_signature(PUBLIC + path, params)}

    async def hook(self, path: str, params: dict[str, str], *, sign: bool = True) -> httpx.Response:
        """Twilio POSTing `params` to `path`, signed over our public URL as Twilio signs."""
        headers = self.signed(path, params) if sign else {}
        return await self.twilio.post(path, data=params, headers=headers)

    async def ring(self, from_: str, *, sid: str | None = None) -> tuple[httpx.Response, str]:
        """A call to the centre's number from `from_`: the number's voice webhook."""
        sid = sid or f"CA{uuid.uuid4().hex}"
        params = {"CallSid": sid, "From": from_, "To": CENTRE, "CallStatus": "ringing", "Direction": "inbound"}
        return await self.hook("/twilio/voice/incoming", params), sid

    async def as_(self, who: str) -> httpx.AsyncClient:
        if who not in self.clients:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console")
            await log_in(client, self.staff[who])
            self.clients[who] = client
        return self.clients[who]

    async def call_row(self, sid: str) -> VoiceCall:
        async with self.sessions() as session:
            return (await session.execute(select(VoiceCall).where(VoiceCall.far_call_sid == sid))).scalar_one()

    async def alarms(self) -> list[Alarm]:
        async with self.sessions() as session:
            return list((await session.execute(select(Alarm).order_by(Alarm.id))).scalars())

    async def alarm(self, alarm_id: int) -> Alarm:
        async with self.sessions() as session:
            alarm = await session.get(Alarm, alarm_id)
            assert alarm is not None
            return alarm

    async def call_events(self, alarm_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent.detail)
                .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "call")
                .order_by(AlarmEvent.id)
            )
            return list(rows.scalars())

    async def press_sos(self) -> int:
        async with self.sessions() as session, session.begin():
            band = await session.get(Band, self.home.band_id)
            assert band is not None
            message = BandMessage(
                band_id=band.id, message_id=uuid.uuid4().hex, kind="sos", received_at=self.clock.now(), payload={}
            )
            session.add(message)
            await session.flush()
            result = await raise_or_merge(
                session,
                band=band,
                resident_municipality_id=self.home.municipality_id,
                kind=AlarmKind.SOS,
                band_message_id=message.id,
                received_at=self.clock.now(),
                policies=load_policies(POLICIES),
            )
            return result.alarm_id


def enqueued_to(twiml: str, alarm_id: int) -> bool:
    return f">alarm-{alarm_id}</Enqueue>" in twiml


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    home = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        await session.execute(update(Band).where(Band.id == home.band_id).values(sim_phone=BAND_SIM))
        await session.execute(update(Resident).where(Resident.id == home.resident_id).values(phone=RESIDENT_PHONE))
        unknown = await service.create_municipality(
            session, clock, code=f"u-{uuid.uuid4().hex[:6]}", name="Gmina numeru centrum"
        )
        unknown_id, unknown_code = unknown.id, unknown.code
    mine = [home.municipality_id, unknown_id]
    staff = {
        "operator": await create_staff(sessions, clock, municipality_ids=mine, full_name="Ola Nowicka"),
        "operator2": await create_staff(sessions, clock, municipality_ids=mine, full_name="Jan Kos"),
        "phoneless": await create_staff(sessions, clock, municipality_ids=mine, full_name="Ewa Bez Telefonu"),
        "elsewhere": await create_staff(sessions, clock, municipality_ids=[home.municipality_id]),
    }
    async with sessions() as session, session.begin():
        for who, phone in (("operator", OPERATOR_PHONE), ("operator2", OPERATOR2_PHONE)):
            await session.execute(update(StaffUser).where(StaffUser.id == staff[who].id).values(phone=phone))
    fake = FakeTwilio(phone_number=CENTRE, now=clock.now)
    async with fake:
        telephone = TwilioTelephone(fake.client(), from_number=CENTRE)
        context = ConsoleContext(
            sessions,
            AlarmFeed(sessions),
            run_feed=False,
            twilio_hooks=TwilioHooks(fake.auth_token, PUBLIC, clock),
            telephone=telephone,
            voice=VoiceSettings(unknown_caller_municipality=unknown_code, operator_ring_s=25),
        )
        app = create_app(context, clock=clock)
        twilio = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC)
        centre = Centre(sessions, clock, fake, home, unknown_id, staff, app, twilio)
        try:
            yield centre
        finally:
            await twilio.aclose()
            for client in centre.clients.values():
                await client.aclose()
            await telephone.aclose()


# ---- who is calling, and which alarm ----------------------------------------------------------------


async def test_a_band_sim_with_no_open_alarm_raises_a_voice_call_alarm_and_waits_in_its_queue(centre: Centre) -> None:
    answer, sid = await centre.ring("500 100 200")  # caller ID without +48: the same SIM
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    [alarm] = await centre.alarms()
    assert (alarm.kind, alarm.status, alarm.priority) == ("voice_call", "raised", 1)
    assert (alarm.band_id, alarm.resident_id, alarm.municipality_id) == (
        centre.home.band_id,
        centre.home.resident_id,
        centre.home.municipality_id,
    )
    twiml = answer.text
    assert '<Say language="pl-PL">Centrum alarmowe, proszę czekać, operator zaraz się zgłosi.</Say>' in twiml
    row = await centre.call_row(sid)
    assert enqueued_to(twiml, alarm.id)
    assert f'action="{PUBLIC}/twilio/voice/incoming/{row.id}/left"' in twiml
    assert f'waitUrl="{PUBLIC}/twilio/voice/incoming/{row.id}/wait"' in twiml
    assert (row.direction, row.status, row.target, row.target_id, row.number, row.room) == (
        "inbound",
        "queued",
        "band",
        centre.home.band_id,
        BAND_SIM,
        f"alarm-{alarm.id}",
    )
    assert await centre.call_events(alarm.id) == [
        {
            "call_id": row.id,
            "direction": "inbound",
            "target": "band",
            "target_id": centre.home.band_id,
            "event": "incoming",
            "caller": "band",
            "number": "+48500***200",
        }
    ]
    # Escalation started with the voice_call policy, like any raised alarm.
    async with centre.sessions() as session:
        [raised] = (
            await session.execute(
                select(AlarmEvent).where(AlarmEvent.alarm_id == alarm.id, AlarmEvent.type == "raised")
            )
        ).scalars()
        assert (raised.actor_type, raised.detail["reason"], raised.detail["caller"]) == ("band", "voice_call", "band")
    # Twilio retrying the webhook: the same queue, nothing new.
    again, _ = await centre.ring(BAND_SIM, sid=sid)
    assert enqueued_to(again.text, alarm.id)
    assert len(await centre.alarms()) == 1
    assert len(await centre.call_events(alarm.id)) == 1
    # The wait TwiML says it again between pauses.
    waiting = await centre.hook(f"/twilio/voice/incoming/{row.id}/wait", {"CallSid": sid, "QueuePosition": "1"})
    assert "<Pause" in waiting.text
    assert "Proszę czekać" in waiting.text


async def test_a_band_with_an_open_sos_has_the_call_joined_to_it(centre: Centre) -> None:
    sos = await centre.press_sos()
    answer, sid = await centre.ring(BAND_SIM)
    assert enqueued_to(answer.text, sos)
    assert [a.id for a in await centre.alarms()] == [sos]
    assert (await centre.call_row(sid)).alarm_id == sos
    # A second call of the same band while the first waits: the same alarm, the same queue.
    second, _ = await centre.ring(BAND_SIM)
    assert enqueued_to(second.text, sos)
    assert [e["event"] for e in await centre.call_events(sos)] == ["incoming", "incoming"]


async def test_the_residents_own_phone_is_the_resident(centre: Centre) -> None:
    answer, sid = await centre.ring(RESIDENT_PHONE)
    [alarm] = await centre.alarms()
    assert enqueued_to(answer.text, alarm.id)
    row = await centre.call_row(sid)
    assert (row.target, row.target_id) == ("resident", centre.home.resident_id)
    # The resident's band is the alarm's band: the band's SOS would join this alarm too.
    assert (alarm.kind, alarm.band_id, alarm.resident_id) == (
        "voice_call",
        centre.home.band_id,
        centre.home.resident_id,
    )


async def test_a_relatives_phone_reaches_their_residents_alarm(centre: Centre) -> None:
    sos = await centre.press_sos()
    answer, sid = await centre.ring("601 234 567")
    assert enqueued_to(answer.text, sos)
    row = await centre.call_row(sid)
    assert row.target == "contact"
    assert row.number == RELATIVE
    [event] = await centre.call_events(sos)
    assert (event["caller"], event["number"]) == ("contact", "+48601***567")


async def test_an_unknown_number_raises_an_alarm_with_no_band_in_the_centres_municipality(centre: Centre) -> None:
    answer, sid = await centre.ring(STRANGER)
    [alarm] = await centre.alarms()
    assert enqueued_to(answer.text, alarm.id)
    assert (alarm.kind, alarm.band_id, alarm.resident_id, alarm.municipality_id) == (
        "voice_call",
        None,
        None,
        centre.unknown_municipality_id,
    )
    assert (await centre.call_row(sid)).target == "unknown"

    operator = await centre.as_("operator")
    [queued] = (await operator.get("/api/alarms")).json()
    assert (queued["id"], queued["band_serial"], queued["resident"], queued["caller_number"]) == (
        alarm.id,
        "",
        None,
        STRANGER,
    )
    page = await operator.get(f"/api/alarms/{alarm.id}")
    assert page.status_code == 200, page.text
    detail = page.json()
    assert (detail["band"], detail["resident"], detail["alarm"]["caller_number"]) == (None, None, STRANGER)
    assert detail["contacts"] == []
    [waiting] = detail["calls"]
    assert (waiting["direction"], waiting["status"], waiting["target"], waiting["number"]) == (
        "inbound",
        "queued",
        "unknown",
        STRANGER,
    )
    assert waiting["waiting_since"] is not None
    # An operator of the home municipality only does not see the centre's unknown callers.
    elsewhere = await centre.as_("elsewhere")
    assert (await elsewhere.get(f"/api/alarms/{alarm.id}")).status_code == 403

    # The same stranger calling again while the alarm is open: the same alarm.
    again, _ = await centre.ring(STRANGER)
    assert enqueued_to(again.text, alarm.id)
    # Another stranger: an alarm of their own (alarms with no band never merge).
    other, _ = await centre.ring("+48609888777")
    assert len(await centre.alarms()) == 2
    assert not enqueued_to(other.text, alarm.id)


async def test_withheld_numbers_are_unknown_callers_each_with_an_alarm_of_their_own(centre: Centre) -> None:
    first, first_sid = await centre.ring("anonymous")
    second, _ = await centre.ring("anonymous")
    alarms = await centre.alarms()
    assert [(a.kind, a.band_id) for a in alarms] == [("voice_call", None), ("voice_call", None)]
    assert enqueued_to(first.text, alarms[0].id)
    assert enqueued_to(second.text, alarms[1].id)
    row = await centre.call_row(first_sid)
    assert (row.target, row.number) == ("unknown", "anonymous")


async def test_unsigned_or_wrongly_signed_calls_are_refused_and_counted(centre: Centre) -> None:
    params = {"CallSid": "CAforged", "From": BAND_SIM, "To": CENTRE, "CallStatus": "ringing"}
    before = forbidden_count("voice_incoming")
    unsigned = await centre.hook("/twilio/voice/incoming", params, sign=False)
    forged = await centre.twilio.post(
        "/twilio/voice/incoming", data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    )
    # Signed over other parameters than those sent (a From changed on the way).
    tampered = await centre.twilio.post(
        "/twilio/voice/incoming",
        data={**params, "From": STRANGER},
        headers=centre.signed("/twilio/voice/incoming", params),
    )
    assert (unsigned.status_code, forged.status_code, tampered.status_code) == (403, 403, 403)
    assert forbidden_count("voice_incoming") == before + 3
    assert await centre.alarms() == []
    for path in ("/twilio/voice/incoming/1/left", "/twilio/voice/incoming/1/take", "/twilio/voice/incoming/1/wait"):
        before = sum(forbidden_count(h) for h in ("voice_left", "voice_take", "voice_wait"))
        assert (await centre.hook(path, {"CallSid": "CAx", "QueueResult": "hangup"}, sign=False)).status_code == 403
        assert sum(forbidden_count(h) for h in ("voice_left", "voice_take", "voice_wait")) == before + 1


# ---- answering ----------------------------------------------------------------------------------------


async def test_an_operator_answers_the_phone_rings_and_the_take_twiml_dequeues_the_caller(centre: Centre) -> None:
    _, sid = await centre.ring(BAND_SIM)
    row = await centre.call_row(sid)
    alarm_id = row.alarm_id
    operator = await centre.as_("operator")

    answered = await operator.post(f"/api/alarms/{alarm_id}/calls/{row.id}/answer")
    assert answered.status_code == 200, answered.text
    view = answered.json()
    assert (view["id"], view["direction"], view["status"], view["staff_name"], view["number"], view["live"]) == (
        row.id,
        "inbound",
        "answering",
        "Ola Nowicka",
        BAND_SIM,
        True,
    )
    # The fake Twilio was asked to ring the operator's own phone, from the centre's number.
    [placed] = centre.fake.calls
    assert (placed.to, placed.from_) == (OPERATOR_PHONE, CENTRE)
    assert placed.url == f"{PUBLIC}/twilio/voice/incoming/{row.id}/take"
    # Its progress goes to the calls' own status hook (console/voice_hooks.py), as an operator's call out.
    assert placed.status_callback == f"{PUBLIC}/twilio/voice/calls/{row.id}/status?leg=operator"
    after = await centre.call_row(sid)
    assert (after.status, after.operator_call_sid, after.operator_address) == ("answering", placed.sid, OPERATOR_PHONE)
    # Answering took the alarm: it was in nobody's hands.
    alarm = await centre.alarm(alarm_id)
    assert (alarm.status, alarm.claimed_by) == ("claimed", centre.staff["operator"].id)

    # A colleague pressing "Odbierz" too: refused, naming who has it.
    late = await (await centre.as_("operator2")).post(f"/api/alarms/{alarm_id}/calls/{row.id}/answer")
    assert late.status_code == 409
    assert "Ola Nowicka" in late.json()["detail"]

    # The operator picks up: Twilio fetches the take TwiML, which dequeues the caller.
    take = await centre.hook(
        f"/twilio/voice/incoming/{row.id}/take", {"CallSid": placed.sid, "CallStatus": "in-progress"}
    )
    assert f"<Dial><Queue>alarm-{alarm_id}</Queue></Dial>" in take.text
    answered_leg = {"CallSid": placed.sid, "CallStatus": "in-progress"}
    assert (await centre.hook(f"/twilio/voice/calls/{row.id}/status?leg=operator", answered_leg)).status_code == 200
    talking = await centre.call_row(sid)
    assert (talking.status, talking.staff_id) == ("in_progress", centre.staff["operator"].id)
    centre.clock.advance(95)
    # The conversation ends: the caller leaves the queue bridged, the operator's leg completes.
    left = await centre.hook(
        f"/twilio/voice/incoming/{row.id}/left", {"CallSid": sid, "QueueResult": "bridged", "QueueTime": "8"}
    )
    assert left.status_code == 200
    status = {"CallSid": placed.sid, "CallStatus": "completed", "CallDuration": "95"}
    await centre.hook(f"/twilio/voice/calls/{row.id}/status?leg=operator", status)
    await centre.hook(f"/twilio/voice/calls/{row.id}/status?leg=operator", status)  # replayed: nothing twice
    done = await centre.call_row(sid)
    assert (done.status, done.duration_s) == ("completed", 95)
    events = await centre.call_events(alarm_id)
    assert [e["event"] for e in events] == ["incoming", "answering", "answered", "completed"]
    assert events[3]["duration_s"] == 95

    # The timeline and the calls of the alarm page.
    detail = (await operator.get(f"/api/alarms/{alarm_id}")).json()
    assert [e["detail"]["event"] for e in detail["timeline"] if e["type"] == "call"] == [
        "incoming",
        "answering",
        "answered",
        "completed",
    ]
    [call] = detail["calls"]
    assert (call["id"], call["direction"], call["status"], call["live"], call["duration_s"]) == (
        row.id,
        "inbound",
        "completed",
        False,
        95,
    )


async def test_answering_needs_the_operators_phone_and_a_waiting_call(centre: Centre) -> None:
    _, sid = await centre.ring(BAND_SIM)
    row = await centre.call_row(sid)
    phoneless = await centre.as_("phoneless")
    refused = await phoneless.post(f"/api/alarms/{row.alarm_id}/calls/{row.id}/answer")
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body", "operator_phone"]
    assert "Moje konto" in problem["msg"]
    assert (await centre.call_row(sid)).status == "queued"
    assert centre.fake.calls == []

    operator = await centre.as_("operator")
    missing = await operator.post(f"/api/alarms/{row.alarm_id}/calls/{row.id + 999}/answer")
    assert missing.status_code == 404


async def test_the_telephone_refusing_says_so_with_the_callers_number_and_the_caller_keeps_waiting(
    centre: Centre,
) -> None:
    _, sid = await centre.ring(STRANGER)
    row = await centre.call_row(sid)
    centre.fake.fail_next(1, status=503)
    operator = await centre.as_("operator")
    refused = await operator.post(f"/api/alarms/{row.alarm_id}/calls/{row.id}/answer")
    assert refused.status_code == 503
    body = refused.json()
    assert body["number"] == STRANGER
    assert STRANGER in body["detail"]
    assert "zadzwoń ręcznie" in body["detail"]
    after = await centre.call_row(sid)
    assert (after.status, after.staff_id) == ("queued", None)
    assert [e["event"] for e in await centre.call_events(row.alarm_id)] == ["incoming", "answering", "failed"]


async def test_the_operators_phone_not_answering_puts_the_caller_back_for_anyone(centre: Centre) -> None:
    _, sid = await centre.ring(BAND_SIM)
    row = await centre.call_row(sid)
    operator = await centre.as_("operator")
    assert (await operator.post(f"/api/alarms/{row.alarm_id}/calls/{row.id}/answer")).status_code == 200
    [placed] = centre.fake.calls
    params = {"CallSid": placed.sid, "CallStatus": "no-answer"}
    await centre.hook(f"/twilio/voice/calls/{row.id}/status?leg=operator", params)
    await centre.hook(f"/twilio/voice/calls/{row.id}/status?leg=operator", params)  # replay
    assert (await centre.call_row(sid)).status == "queued"
    events = await centre.call_events(row.alarm_id)
    assert [e["event"] for e in events] == ["incoming", "answering", "no_answer"]
    assert events[2]["leg"] == "operator"
    # A colleague answers it now.
    second = await (await centre.as_("operator2")).post(f"/api/alarms/{row.alarm_id}/calls/{row.id}/answer")
    assert second.status_code == 200, second.text
    assert centre.fake.calls[-1].to == OPERATOR2_PHONE


# ---- nobody answers -------------------------------------------------------------------------------------


async def test_a_caller_who_hangs_up_while_waiting_is_abandoned_and_the_alarm_stays_open(centre: Centre) -> None:
    _, sid = await centre.ring(BAND_SIM)
    row = await centre.call_row(sid)
    centre.clock.advance(42)
    params = {"CallSid": sid, "QueueResult": "hangup", "QueueTime": "42"}
    left = await centre.hook(f"/twilio/voice/incoming/{row.id}/left", params)
    assert left.status_code == 200
    assert "<Hangup/>" in left.text
    await centre.hook(f"/twilio/voice/incoming/{row.id}/left", params)  # replayed
    gone = await centre.call_row(sid)
    assert (gone.status, gone.ended_at) == ("abandoned", centre.clock.now())
    events = await centre.call_events(row.alarm_id)
    assert [e["event"] for e in events] == ["incoming", "abandoned"]
    assert events[1]["waited_s"] == 42
    alarm = await centre.alarm(row.alarm_id)
    assert (alarm.status, alarm.claimed_by) == ("raised", None)
    # Too late to answer: say so (the operator calls back instead).
    late = await (await centre.as_("operator")).post(f"/api/alarms/{row.alarm_id}/calls/{row.id}/answer")
    assert late.status_code == 409
    assert "rozłączył" in late.json()["detail"]
    # A take TwiML fetched after the caller left (the operator's phone was already ringing): no bridge.
    take = await centre.hook(f"/twilio/voice/incoming/{row.id}/take", {"CallSid": "CAop", "CallStatus": "in-progress"})
    assert "<Queue>" not in take.text
    assert "<Hangup/>" in take.text


async def test_a_call_nobody_answers_escalates_by_the_voice_call_policy(centre: Centre) -> None:
    start = centre.clock.now()
    async with centre.sessions() as session, session.begin():
        await add_shift(
            session,
            role="responder",
            name="Opiekun dyżurny",
            phone=RESPONDER_PHONE,
            starts_at=start - timedelta(hours=1),
            ends_at=start + timedelta(hours=8),
            created_at=start,
            municipality_id=centre.home.municipality_id,
        )
    _, sid = await centre.ring(BAND_SIM)
    alarm_id = (await centre.call_row(sid)).alarm_id
    worker = EscalationWorker(centre.sessions, centre.clock)

    async def at(seconds: int) -> list[dict[str, Any]]:
        centre.clock.advance((start + timedelta(seconds=seconds) - centre.clock.now()).total_seconds())
        async with centre.sessions() as session, session.begin():
            # An operator console is connected: the console steps' waits hold.
            await record_console(session, name="test", clients_since=start, now=centre.clock.now())
        await worker.run_round()
        async with centre.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent.detail)
                .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "escalated")
                .order_by(AlarmEvent.id)
            )
            return [d for d in rows.scalars() if "step" in d]

    assert [(d["step"], d["targets"]) for d in await at(1)] == [(1, ["operators"])]
    assert (await centre.alarm(alarm_id)).overdue_at is None
    fired = await at(61)
    assert [(d["step"], d["targets"]) for d in fired] == [(1, ["operators"]), (2, ["supervisor"])]
    assert (await centre.alarm(alarm_id)).overdue_at is not None
    await at(122)
    async with centre.sessions() as session:
        phoned = (
            await session.execute(
                select(Notification.channel, Notification.to_phone).where(Notification.alarm_id == alarm_id)
            )
        ).all()
    assert [tuple(p) for p in phoned] == [("voice", RESPONDER_PHONE)]
    # Nobody's relatives are rung while someone may be on the line.
    assert RELATIVE not in [p[1] for p in phoned]
    assert (await centre.call_row(sid)).status == "queued"


async def test_a_consenting_residents_call_is_recorded_where_the_municipality_records_calls(centre: Centre) -> None:
    """The take TwiML records from the answer only with both: the municipality listed in [voice]
    record_municipalities and the resident's consent on their card (RODO)."""
    async with centre.sessions() as session:
        code = (
            await session.execute(select(Municipality.code).where(Municipality.id == centre.home.municipality_id))
        ).scalar_one()
    context = centre.app.state.context
    context.voice = VoiceSettings(record_municipalities=[code], operator_ring_s=25)

    async def take_twiml() -> str:
        _, sid = await centre.ring(BAND_SIM)
        row = await centre.call_row(sid)
        operator = await centre.as_("operator")
        assert (await operator.post(f"/api/alarms/{row.alarm_id}/calls/{row.id}/answer")).status_code == 200
        take = await centre.hook(
            f"/twilio/voice/incoming/{row.id}/take", {"CallSid": "CAop", "CallStatus": "in-progress"}
        )
        hung = await centre.hook(
            f"/twilio/voice/incoming/{row.id}/left", {"CallSid": sid, "QueueResult": "bridged", "QueueTime": "3"}
        )
        assert hung.status_code == 200
        return take.text

    assert "record=" not in await take_twiml()  # no consent on the card: never recorded
    async with centre.sessions() as session, session.begin():
        await session.execute(
            update(Resident)
            .where(Resident.id == centre.home.resident_id)
            .values(call_recording_consent_at=centre.clock.now())
        )
    recorded = await take_twiml()
    assert 'record="record-from-answer"' in recorded
    assert "/twilio/voice/calls/" in recorded
    assert "/recording" in recorded


async def test_an_alarm_with_a_caller_waiting_is_not_closed_until_the_call_is_taken_or_ended(centre: Centre) -> None:
    """Closed, the alarm would leave the caller hearing "proszę czekać" in its queue for good."""
    _, sid = await centre.ring(BAND_SIM)
    row = await centre.call_row(sid)
    operator = await centre.as_("operator")
    assert (await operator.post(f"/api/alarms/{row.alarm_id}/claim")).status_code == 200
    close = {"outcome": "false_alarm", "note": "pomyłka"}
    refused = await operator.post(f"/api/alarms/{row.alarm_id}/resolve", json=close)
    assert refused.status_code == 409
    assert BAND_SIM in refused.json()["detail"]
    left = await centre.hook(f"/twilio/voice/incoming/{row.id}/left", {"CallSid": sid, "QueueResult": "hangup"})
    assert left.status_code == 200
    assert (await operator.post(f"/api/alarms/{row.alarm_id}/resolve", json=close)).status_code == 200
