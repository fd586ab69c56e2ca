"""A band calls the centre, end to end against the fake Twilio's voice model: the fake POSTs the signed
incoming call to the console (served by uvicorn), follows the TwiML (Say, Enqueue into the alarm's queue,
the wait URL), the operator answers from the console, the real `twilio` client asks the fake to ring the
operator's phone, the fake follows the take TwiML (<Dial><Queue>) and bridges the caller to the operator,
and every leg's signed status callback lands on the call's row and the alarm's timeline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.live import AlarmFeed
from alarm_center.voice.model import VoiceCall
from alarm_center.voice.twilio_telephone import TwilioTelephone
from console.app import create_app
from console.context import ConsoleContext, TwilioHooks
from core.clock import FakeClock
from core.settings import VoiceSettings
from registry.model import Band, StaffUser
from simulator.fake_twilio import FakeTwilio
from simulator.fake_twilio.config import VoiceNumber
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

PUBLIC = "https://alarm.opaska.example"
CENTRE = "+48221234567"
BAND_SIM = "+48500100200"
OPERATOR_PHONE = "+48600000001"


@dataclass
class Line:
    sessions: async_sessionmaker[AsyncSession]
    fake: FakeTwilio
    home: SeededBand
    operator: StaffMember
    console: httpx.AsyncClient

    async def rows(self) -> list[VoiceCall]:
        async with self.sessions() as session:
            return list((await session.execute(select(VoiceCall).order_by(VoiceCall.id))).scalars())

    async def call_events(self, alarm_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent.detail)
                .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "call")
                .order_by(AlarmEvent.id)
            )
            return list(rows.scalars())

    async def alarm(self, alarm_id: int) -> Alarm:
        async with self.sessions() as session:
            alarm = await session.get(Alarm, alarm_id)
            assert alarm is not None
            return alarm


@pytest_asyncio.fixture
async def line(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Line]:
    home = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        await session.execute(update(Band).where(Band.id == home.band_id).values(sim_phone=BAND_SIM))
    operator = await create_staff(sessions, clock, municipality_ids=[home.municipality_id], full_name="Ola Nowicka")
    async with sessions() as session, session.begin():
        await session.execute(update(StaffUser).where(StaffUser.id == operator.id).values(phone=OPERATOR_PHONE))
    fake = FakeTwilio(
        phone_number=CENTRE,
        now=clock.now,
        voice_numbers={CENTRE: VoiceNumber(voice_url=f"{PUBLIC}/twilio/voice/incoming")},
    )
    async with fake:
        telephone = TwilioTelephone(fake.client(), from_number=CENTRE)
        context = ConsoleContext(
            sessions,
            AlarmFeed(sessions),
            run_feed=False,
            twilio_hooks=TwilioHooks(fake.auth_token, PUBLIC, clock),
            telephone=telephone,
            voice=VoiceSettings(operator_ring_s=20),
        )
        app = create_app(context, clock=clock)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "the console did not start"
            await asyncio.sleep(0.01)
        fake.url_map[PUBLIC] = f"http://127.0.0.1:{port}"
        console = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
        await log_in(console, operator)
        try:
            yield Line(sessions, fake, home, operator, console)
        finally:
            await console.aclose()
            await telephone.aclose()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


async def test_a_band_calls_an_operator_answers_from_the_console_and_the_queue_is_bridged(line: Line) -> None:
    ringing = await line.fake.incoming_call(from_=BAND_SIM)
    [row] = await line.rows()
    alarm = await line.alarm(row.alarm_id)
    assert (alarm.kind, alarm.band_id, alarm.status) == ("voice_call", line.home.band_id, "raised")
    assert (row.status, row.far_call_sid, row.room) == ("queued", ringing.call.sid, f"alarm-{alarm.id}")
    # The caller heard who answered and waits in the alarm's queue.
    assert "say: Centrum alarmowe, proszę czekać, operator zaraz się zgłosi." in ringing.heard
    queue = line.fake.queue(f"alarm-{alarm.id}")
    assert queue is not None
    assert queue.call_sids == [ringing.call.sid]

    line.fake.phone(OPERATOR_PHONE).script("answer", after=3)
    answered = await line.console.post(f"/api/alarms/{alarm.id}/calls/{row.id}/answer")
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "answering"
    await line.fake.settle()
    [operator_leg] = line.fake.calls_to(OPERATOR_PHONE)
    assert operator_leg.from_ == CENTRE
    assert operator_leg.url == f"{PUBLIC}/twilio/voice/incoming/{row.id}/take"

    await line.fake.advance(4)  # the operator picks up: the take TwiML dequeues the caller
    assert "<Dial><Queue>" in (operator_leg.last_twiml or "")
    assert queue.call_sids == []
    [talking] = await line.rows()
    assert (talking.status, talking.staff_id, talking.operator_call_sid) == (
        "in_progress",
        line.operator.id,
        operator_leg.sid,
    )
    assert (await line.alarm(alarm.id)).claimed_by == line.operator.id

    await line.fake.advance(30)
    await ringing.hang_up()  # the resident says goodbye
    await line.fake.settle()
    [done] = await line.rows()
    assert done.status == "completed"
    assert done.duration_s is not None
    assert done.duration_s >= 25
    events = await line.call_events(alarm.id)
    assert [e["event"] for e in events] == ["incoming", "answering", "answered", "completed"]
    # Every callback was signed and accepted.
    assert [c.status for c in line.fake.callbacks if c.status != 200] == []
    # Replaying every callback changes nothing.
    for callback in list(line.fake.callbacks):
        if "/status" in callback.url or "/left" in callback.url:
            await line.fake.replay(callback)
    assert len(await line.call_events(alarm.id)) == len(events)


async def test_a_caller_who_gives_up_in_the_queue_leaves_the_alarm_open(line: Line) -> None:
    ringing = await line.fake.incoming_call(from_=BAND_SIM)
    await line.fake.advance(17)
    await ringing.hang_up()
    await line.fake.settle()
    [row] = await line.rows()
    assert row.status == "abandoned"
    events = await line.call_events(row.alarm_id)
    assert [e["event"] for e in events] == ["incoming", "abandoned"]
    assert 16 <= events[1]["waited_s"] <= 18
    assert (await line.alarm(row.alarm_id)).status == "raised"


async def test_an_unsigned_incoming_call_is_refused(line: Line) -> None:
    ringing = await line.fake.incoming_call(from_=BAND_SIM, signed=False)
    assert await line.rows() == []
    assert [c.status for c in line.fake.callbacks if "/twilio/voice/incoming" in c.url] == [403]
    assert ringing.call is not None


async def test_the_operators_phone_busy_leaves_the_caller_in_the_queue_for_the_next_operator(line: Line) -> None:
    ringing = await line.fake.incoming_call(from_=BAND_SIM)
    [row] = await line.rows()
    line.fake.phone(OPERATOR_PHONE).script("busy", after=2)
    assert (await line.console.post(f"/api/alarms/{row.alarm_id}/calls/{row.id}/answer")).status_code == 200
    await line.fake.advance(3)
    [back] = await line.rows()
    assert back.status == "queued"
    queue = line.fake.queue(f"alarm-{row.alarm_id}")
    assert queue is not None
    assert queue.call_sids == [ringing.call.sid]  # still waiting, still hearing the wait message
    assert [e["event"] for e in await line.call_events(row.alarm_id)] == ["incoming", "answering", "busy"]

    # Picked up on the second try.
    line.fake.phone(OPERATOR_PHONE).script("answer", after=1)
    again = await line.console.post(f"/api/alarms/{row.alarm_id}/calls/{row.id}/answer")
    assert again.status_code == 200, again.text
    await line.fake.advance(2)
    assert queue.call_sids == []
    assert (await line.rows())[0].status == "in_progress"
