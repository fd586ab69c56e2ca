"""The engine killed (SIGKILL) mid-escalation and mid-send, and a new one started later: each due step
fires exactly once, and no SMS goes out twice.

`opaska engine` runs as a real subprocess on the system clock, sending through a fake Twilio started
in the test's loop. The policy is short (SMS to the contacts STEP_S seconds after the alarm, the
next contact and then the supervisor STEP_S seconds apart), so "the clock moved on" is real time: the engine is
killed, the test waits past the next due times, and a new engine starts.

The outbox keeps a claimed row `sending` until its deadline before reconciling it; the stories set
`[notify] send_deadline_s` to a few seconds (and Twilio's request timeout below it), so the new
engine reconciles a send the killed one left hanging after a short real wait.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.model import AlarmEvent, AlarmKind
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import load_policies
from alarm_center.notify.model import Notification, NotificationStatus
from core.clock import FakeClock
from registry import service
from registry.model import Band, BandStatus
from registry.traffic.messages import BandMessage
from simulator.fake_twilio.server import FakeTwilio
from simulator.lab.processes import opaska_env
from tests.support.processes import opaska_process
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

CONTACT_1, CONTACT_2 = "+48601234567", "+48602345678"
STEP_S = 2
# The killed engine dies inside its request's timeout; the next finds the row past its deadline.
TWILIO_TIMEOUT_S = 3
SEND_DEADLINE_S = 7

POLICIES = f"""
[kinds]
sos = "restart"
fall = "restart"
band_offline = "technical"
battery_low = "technical"
not_worn = "technical"
voice_call = "restart"
no_checkin = "restart"
left_zone = "restart"
welfare_call = "restart"
canary = "restart"
canary_lost = "restart"

[policies.restart]
steps = [
  {{ after_s = 0, channel = "console", targets = ["operators"], sound = true }},
  {{ after_s = {STEP_S}, channel = "sms", targets = ["contacts"], next_contact_after_s = {STEP_S} }},
  {{ after_s = {STEP_S}, channel = "console", targets = ["supervisor"], mark_overdue = true }},
]

[policies.technical]
steps = [{{ after_s = 0, channel = "console", targets = ["operators"] }}]
"""

# Every step of the policy, in order: (step, targets) of each escalation event.
ALL_STEPS = [(1, ["operators"]), (2, ["contacts"]), (2, ["contacts"]), (3, ["supervisor"])]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}\n{log.read_text(errors='replace')}")
        await asyncio.sleep(0.05)


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    seeded: SeededBand
    fake: FakeTwilio
    env: dict[str, str]
    tmp_path: Path
    policies: Path

    async def raise_sos(self) -> int:
        """A press on the resident's band, stored as the gateway stores it, with its escalation row."""
        now = datetime.now(UTC)
        async with self.sessions() as session, session.begin():
            band = await session.get(Band, self.seeded.band_id)
            assert band is not None
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
                policies=load_policies(self.policies),
            )
            return result.alarm_id

    async def steps_fired(self, alarm_id: int) -> list[tuple[int, list[str]]]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent.detail)
                .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "escalated")
                .order_by(AlarmEvent.id)
            )
            return [(d["step"], d["targets"]) for d in rows.scalars() if "step" in d]

    async def notifications(self, alarm_id: int) -> list[Notification]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(Notification).where(Notification.alarm_id == alarm_id).order_by(Notification.id)
            )
            return list(rows.scalars())

    async def escalation_state(self, alarm_id: int) -> str:
        async with self.sessions() as session:
            row = (await session.execute(select(Escalation).where(Escalation.alarm_id == alarm_id))).scalar_one()
            return row.state

    async def statuses(self, alarm_id: int) -> list[tuple[str, str]]:
        return [(n.to_phone, n.status) for n in await self.notifications(alarm_id)]

    def sms_posts(self) -> list[str]:
        """The `To` of every create request for an SMS, answered or not."""
        return [
            value
            for request in self.fake.requests
            if request.method == "POST" and request.path.endswith("/Messages.json")
            for key, value in request.form
            if key == "To"
        ]

    def sms_to(self, number: str) -> int:
        return len(self.fake.sent_to(number))


@pytest_asyncio.fixture
async def centre(
    sessions: async_sessionmaker[AsyncSession], database_url: str, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Centre]:
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        await service.add_contact(
            session, clock, resident_id=seeded.resident_id, name="Jan Kowalski", phone="602 345 678", priority=2
        )
        band = await session.get(Band, seeded.band_id)
        assert band is not None
        band.status = BandStatus.ACTIVE
    policies = tmp_path / "escalation.toml"
    policies.write_text(POLICIES)
    async with FakeTwilio() as fake:
        env = opaska_env(
            OPASKA_DATABASE_URL=database_url,
            OPASKA_NOTIFY_MODE="twilio",
            OPASKA_TWILIO_ACCOUNT_SID=fake.account_sid,
            OPASKA_TWILIO_AUTH_TOKEN=fake.auth_token,
            OPASKA_TWILIO_FROM_NUMBER=fake.phone_number,
            # No callbacks are played in these stories; the URL only has to be well formed.
            OPASKA_TWILIO_PUBLIC_URL="http://127.0.0.1:9/opaska",
            OPASKA_TWILIO_API_BASE_URL=fake.url,
            OPASKA_METRICS_ENGINE_PORT="0",
            OPASKA_ESCALATION_POLICIES_FILE=str(policies),
            OPASKA_ESCALATION_POLL_S="0.2",
            OPASKA_TWILIO_TIMEOUT_S=str(TWILIO_TIMEOUT_S),
            OPASKA_NOTIFY_SEND_DEADLINE_S=str(SEND_DEADLINE_S),
        )
        yield Centre(sessions, seeded, fake, env, tmp_path, policies)


async def test_killed_mid_escalation_a_new_engine_fires_each_due_step_once(centre: Centre) -> None:
    alarm = await centre.raise_sos()
    first_log, second_log = centre.tmp_path / "engine-1.log", centre.tmp_path / "engine-2.log"
    with opaska_process(["engine"], centre.env, first_log) as first:

        async def first_contact_told() -> bool:
            return await centre.statuses(alarm) == [(CONTACT_1, NotificationStatus.SENT)]

        await eventually(first_contact_told, "the first contact's SMS sent", first_log)
        first.kill()
        first.wait(10)
    fired_before = await centre.steps_fired(alarm)
    assert fired_before[:2] == ALL_STEPS[:2]
    assert fired_before != ALL_STEPS, "the engine ran the whole policy before it was killed"

    # The clock moves on past every due time while no engine runs: the second contact and the
    # supervisor are both overdue when the new engine starts.
    await asyncio.sleep(3 * STEP_S)
    with opaska_process(["engine"], centre.env, second_log):

        async def done() -> bool:
            statuses = await centre.statuses(alarm)
            return await centre.escalation_state(alarm) == "done" and all(
                status == NotificationStatus.SENT for _, status in statuses
            )

        await eventually(done, "the escalation done and every SMS sent", second_log)
        await asyncio.sleep(1.5)  # room for any second effect to show

    assert await centre.steps_fired(alarm) == ALL_STEPS
    assert await centre.statuses(alarm) == [(CONTACT_1, "sent"), (CONTACT_2, "sent")]
    assert (centre.sms_to(CONTACT_1), centre.sms_to(CONTACT_2)) == (1, 1)
    assert sorted(centre.sms_posts()) == [CONTACT_1, CONTACT_2]


@pytest.mark.parametrize("created", [True, False], ids=["created-then-hung", "hung-before-create"])
async def test_killed_mid_send_the_new_engine_reconciles_and_never_sends_twice(centre: Centre, created: bool) -> None:
    # The first SMS hangs: with `created` Twilio has made the message and the answer never comes
    # (a resend would be a second SMS); without, nothing was made (it must still go out, once).
    centre.fake.hang_next(1, seconds=60, created=created, only="messages")
    alarm = await centre.raise_sos()
    first_log, second_log = centre.tmp_path / "engine-1.log", centre.tmp_path / "engine-2.log"
    with opaska_process(["engine"], centre.env, first_log) as first:

        async def hung_while_sending() -> bool:
            statuses = await centre.statuses(alarm)
            return statuses[:1] == [(CONTACT_1, NotificationStatus.SENDING)] and CONTACT_1 in centre.sms_posts()

        await eventually(hung_while_sending, "the first SMS hung in sending", first_log)
        await asyncio.sleep(0.3)  # the request is in the fake's hands, hung
        first.kill()
        first.wait(10)
    assert centre.sms_to(CONTACT_1) == (1 if created else 0)
    # The escalation goes on while a send hangs: the next contact may already have had a turn.
    assert (await centre.steps_fired(alarm))[:2] == ALL_STEPS[:2]
    assert (await centre.statuses(alarm))[0] == (CONTACT_1, NotificationStatus.SENDING)

    await asyncio.sleep(SEND_DEADLINE_S)  # the hung send's deadline passes while no engine runs
    with opaska_process(["engine"], centre.env, second_log):

        async def done() -> bool:
            statuses = await centre.statuses(alarm)
            return await centre.escalation_state(alarm) == "done" and statuses == [
                (CONTACT_1, NotificationStatus.SENT),
                (CONTACT_2, NotificationStatus.SENT),
            ]

        await eventually(done, "the escalation done and every SMS sent", second_log, timeout=30)
        await asyncio.sleep(1.5)  # room for any second effect to show

    assert await centre.steps_fired(alarm) == ALL_STEPS
    assert (centre.sms_to(CONTACT_1), centre.sms_to(CONTACT_2)) == (1, 1)
    rows = await centre.notifications(alarm)
    sids = {message.sid for message in centre.fake.messages}
    assert {row.provider_id for row in rows} == sids
    if created:
        # Found at the provider: recorded, not resent.
        assert sorted(centre.sms_posts()) == [CONTACT_1, CONTACT_2]
        assert "was sent after all" in second_log.read_text(errors="replace")
    else:
        # Not found: tried once more, and only once.
        assert sorted(centre.sms_posts()) == [CONTACT_1, CONTACT_1, CONTACT_2]
        assert rows[0].attempts == 2
