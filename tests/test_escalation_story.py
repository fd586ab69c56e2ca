"""The escalation story end to end: an SOS nobody claims reaches relatives by phone, and what they
answer steers it. The escalation worker and the outbox sender run against the fake Twilio through the
real `twilio` client; the console (its webhooks and its live WebSocket) is served by uvicorn; the clock
is a FakeClock moved by hand. On SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.lifecycle import Actor, Move, Outcome, apply_move
from alarm_center.alarms.model import AlarmEvent, AlarmKind
from alarm_center.escalation.policy import load_policies
from alarm_center.escalation.presence import CONSOLE_PREFIX, EVERY_S
from alarm_center.escalation.worker import EscalationWorker
from alarm_center.live import AlarmFeed
from alarm_center.notify.model import Notification
from alarm_center.notify.outbox import OutboxPolicy, OutboxSender
from alarm_center.notify.templates import alarm_code
from alarm_center.notify.twilio_notifier import TwilioNotifier
from console.app import create_app
from console.context import ConsoleContext, TwilioHooks
from core.clock import FakeClock
from core.db.service_state import ServiceState
from core.settings import PROJECT_ROOT
from registry import service as registry
from registry.model import Band
from registry.traffic.messages import BandMessage
from simulator.fake_twilio import FakeTwilio
from simulator.lab.staff import StaffMember, create_staff, log_in
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
RELATIVE_1, RELATIVE_2 = "+48601234567", "+48602345678"
POLICIES = load_policies(PROJECT_ROOT / "config" / "escalation.toml")
ARRIVAL_S = POLICIES.policies["life"].arrival_confirm_s
OUTBOX = OutboxPolicy(max_attempts=3, retry_base_s=2, retry_max_s=60, send_deadline_s=30, per_number_per_minute=6)


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    fake: FakeTwilio
    seeded: SeededBand
    staff_id: int
    worker: EscalationWorker
    sender: OutboxSender
    console_url: str
    operator: StaffMember

    async def sos(self) -> int:
        """A press on the resident's band, taken in as the gateway does: an alarm and its escalation row."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            band = (await session.execute(select(Band).where(Band.id == self.seeded.band_id))).scalar_one()
            message = BandMessage(
                band_id=band.id, message_id=uuid.uuid4().hex, kind=AlarmKind.SOS.value, received_at=now, payload={}
            )
            session.add(message)
            await session.flush()
            result = await raise_or_merge(
                session,
                band=band,
                resident_municipality_id=self.seeded.municipality_id,
                kind=AlarmKind.SOS,
                band_message_id=message.id,
                received_at=now,
                policies=POLICIES,
            )
            return result.alarm_id

    async def time_passes(self, seconds: float, *, step: float = 10) -> None:
        """Move the clock on in steps; at each, the console beats, the worker and the sender run."""
        left = seconds
        while True:
            moved = min(step, left)
            self.clock.advance(moved)
            left -= moved
            await self.console_beat()
            await self.worker.run_round()
            await self.sender.send_due()
            if left <= 0:
                return

    async def console_beat(self) -> None:
        """Wait (briefly) for the console's presence row to catch up with the clock (it beats every EVERY_S)."""
        for _ in range(200):
            async with self.sessions() as session:
                alive = (
                    await session.execute(
                        select(ServiceState.alive_at).where(ServiceState.name.startswith(CONSOLE_PREFIX))
                    )
                ).scalars()
                if any(at >= self.clock.now() - timedelta(seconds=EVERY_S) for at in alive):
                    return
            await asyncio.sleep(0.01)
        raise AssertionError("the console never recorded its presence")

    async def console_rows(self) -> list[tuple[datetime | None, datetime]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(ServiceState.connected_since, ServiceState.alive_at).where(
                    ServiceState.name.startswith(CONSOLE_PREFIX)
                )
            )
            return [(row.connected_since, row.alive_at) for row in rows]

    async def events(self, alarm_id: int, type: str) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent.detail)
                .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == type)
                .order_by(AlarmEvent.id)
            )
            return [dict(detail or {}) for detail in rows.scalars()]

    async def escalations_for(self, alarm_id: int, reason: str) -> list[dict[str, Any]]:
        return [d for d in await self.events(alarm_id, "escalated") if d.get("reason") == reason]

    async def notifications(self, alarm_id: int) -> list[tuple[str, str, str, str]]:
        """(template, channel, phone, status), oldest first."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(Notification.template, Notification.channel, Notification.to_phone, Notification.status)
                .where(Notification.alarm_id == alarm_id)
                .order_by(Notification.id)
            )
            return [(row.template, row.channel, row.to_phone, row.status) for row in rows]

    async def resolve(self, alarm_id: int) -> None:
        """An operator takes the alarm and closes it: the relative found Helena well."""
        async with self.sessions() as session, session.begin():
            operator, now = Actor.staff(self.staff_id), self.clock.now()
            await apply_move(session, at=now, alarm_id=alarm_id, move=Move.CLAIM, actor=operator)
            await apply_move(
                session,
                at=now,
                alarm_id=alarm_id,
                move=Move.RESOLVE,
                actor=operator,
                outcome=Outcome.RELATIVE_ATTENDED,
                note="Anna is with her; all well.",
            )


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    seeded = await seed_resident_with_band(sessions, clock, first_name="Helena")
    async with sessions() as session, session.begin():
        await registry.add_contact(
            session, clock, resident_id=seeded.resident_id, name="Jan Kowalski", phone="602 345 678", priority=2
        )
    operator = await create_staff(
        sessions, clock, role="operator", municipality_ids=[seeded.municipality_id], full_name="Ola Operator"
    )
    staff_id = operator.id
    fake = FakeTwilio(phone_number=OURS, inbound_sms_url=f"{PUBLIC}/twilio/sms", now=clock.now)
    hooks = TwilioHooks(fake.auth_token, PUBLIC, clock)
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, twilio_hooks=hooks), clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    fake.url_map[PUBLIC] = f"http://127.0.0.1:{port}"
    async with fake:
        notifier = TwilioNotifier(fake.client(), from_number=OURS, public_url=PUBLIC, timeout_s=0.5)
        try:
            yield Centre(
                sessions,
                clock,
                fake,
                seeded,
                staff_id,
                EscalationWorker(sessions, clock),
                OutboxSender(sessions, notifier, clock, OUTBOX),
                f"http://127.0.0.1:{port}",
                operator,
            )
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


@contextlib.asynccontextmanager
async def operator_at_the_console(centre: Centre) -> AsyncIterator[None]:
    """An operator's browser on the live WebSocket: the console counts as connected while it is open."""
    # The live feed needs a login: the operator logs in first, and the socket carries the cookie.
    async with httpx.AsyncClient(base_url=centre.console_url) as client:
        login = await log_in(client, centre.operator)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{centre.console_url}/ws/live", headers=login.cookie_header) as ws,
    ):
        snapshot = await ws.receive_json(timeout=5)
        assert snapshot["type"] == "snapshot"
        for _ in range(200):
            if any(since is not None for since, _ in await centre.console_rows()):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the console did not record its connected client")
        yield


async def test_an_sos_nobody_claims_relative_1_presses_1_and_nobody_else_is_called(centre: Centre) -> None:
    async with operator_at_the_console(centre):
        alarm = await centre.sos()
        await centre.time_passes(0)
        await centre.time_passes(170)
        assert centre.fake.calls_to(RELATIVE_1) == []  # operators had their 180 s to claim it
        await centre.time_passes(10)

        relative_1, relative_2 = centre.fake.phone(RELATIVE_1), centre.fake.phone(RELATIVE_2)
        call = await relative_1.expect_call()
        assert "Helena" in await call.answer()
        pressed = await call.press("1")
        assert "Dziękujemy" in pressed.text
        await call.end("completed")
        going_at = centre.clock.now()

        # The alarm shows "relative going": the relative's answer, and an alert for the operators.
        [answer] = await centre.events(alarm, "contact_response")
        assert answer["answer"] == "going"
        [shown] = await centre.escalations_for(alarm, "relative_going")
        assert shown["targets"] == ["operators"]
        assert shown["arrival_confirm_by"] == (going_at + timedelta(seconds=ARRIVAL_S)).isoformat()

        # Nobody else is called, however long it takes (short of the arrival timer).
        await centre.time_passes(ARRIVAL_S - 10, step=60)
        assert centre.fake.calls_to(RELATIVE_2) == []
        assert centre.fake.sent_to(RELATIVE_2) == []
        assert await centre.escalations_for(alarm, "arrival_not_confirmed") == []

        # Nobody has resolved it 20 minutes after "going": the console is alerted, and since the life
        # policy says so, the escalation goes on with the next relative.
        await centre.time_passes(10)
        [alert] = await centre.escalations_for(alarm, "arrival_not_confirmed")
        assert (alert["targets"], alert["sound"]) == (["operators", "supervisor"], True)
        await centre.time_passes(1, step=1)
        unanswered = await relative_2.expect_call()
        await unanswered.end("no-answer")

        # Resolved: relative 1 (told, and answered) gets the all-clear, once; relative 2 was never told.
        await centre.resolve(alarm)
        await centre.time_passes(1, step=1)
        clear = await relative_1.expect_sms("zakończony")
        assert alarm_code(alarm) in clear.body
        await centre.time_passes(600, step=60)
        assert [sms.body for sms in centre.fake.sent_to(RELATIVE_1)] == [clear.body]
        assert centre.fake.sent_to(RELATIVE_2) == []
        assert len(centre.fake.calls_to(RELATIVE_1)) == len(centre.fake.calls_to(RELATIVE_2)) == 1
        assert relative_1.unseen() == relative_2.unseen() == []
        assert [n[0] for n in await centre.notifications(alarm)] == [
            "escalation_voice",
            "escalation_voice",
            "all_clear",
        ]


async def test_relative_1_texts_nie_and_relative_2_is_called_at_once(centre: Centre) -> None:
    async with operator_at_the_console(centre):
        alarm = await centre.sos()
        await centre.time_passes(0)
        await centre.time_passes(180)
        relative_1 = centre.fake.phone(RELATIVE_1)
        missed = await relative_1.expect_call()
        await missed.end("no-answer")

        await relative_1.reply("NIE")
        [answer] = await centre.events(alarm, "contact_response")
        assert answer["answer"] == "cannot"
        await centre.time_passes(1, step=1)  # one worker round, not the policy's 90 s
        await centre.fake.phone(RELATIVE_2).expect_call()
        await relative_1.expect_sms(alarm_code(alarm))  # "thank you" for the answer


async def test_with_no_console_connected_the_sos_goes_straight_to_the_phone(centre: Centre) -> None:
    await centre.console_beat()
    assert [since for since, _ in await centre.console_rows()] == [None]  # alive, but nobody on it
    alarm = await centre.sos()
    await centre.time_passes(0)
    await centre.time_passes(1, step=1)
    await centre.time_passes(1, step=1)
    await centre.fake.phone(RELATIVE_1).expect_call()
    steps = [(d["step"], d["targets"]) for d in await centre.events(alarm, "escalated") if "step" in d]
    assert steps == [(1, ["operators"]), (2, ["supervisor"]), (3, ["contacts"])]


async def test_the_console_counts_as_connected_only_while_a_client_is_on_it(centre: Centre) -> None:
    async with operator_at_the_console(centre):
        [(since, _)] = await centre.console_rows()
        assert since == centre.clock.now()
    for _ in range(200):
        if [since for since, _ in await centre.console_rows()] == [None]:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the console still counts a client after it left")
