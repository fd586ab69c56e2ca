"""Escalation stories: an alarm nobody claims reaches the supervisor, then relatives, each step once.

The clock is a FakeClock moved by hand; each `centre.at(seconds)` moves it to that many seconds
after the first alarm was raised and runs one worker round.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.lifecycle import Actor, Move, Outcome, apply_move
from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmKind
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import PolicyBook, PolicyError, load_policies
from alarm_center.escalation.presence import record_console
from alarm_center.escalation.service import end_for_alarm
from alarm_center.escalation.worker import EscalationWorker, Fired
from alarm_center.notify.model import Notification
from alarm_center.notify.service import Answer, apply_provider_status, record_response
from core.clock import FakeClock
from core.db.engine import make_engine, make_session_factory
from core.settings import PROJECT_ROOT
from registry import service
from registry.duty import add_shift
from registry.model import Band, BandStatus, Contact, Municipality
from registry.traffic.messages import BandMessage
from simulator.lab.staff import create_staff
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

DEFAULT_POLICIES = PROJECT_ROOT / "config" / "escalation.toml"
CONTACT_1, CONTACT_2 = "+48601234567", "+48602345678"


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    seeded: SeededBand
    staff_id: int
    worker: EscalationWorker
    start: Any = None
    bands: list[int] = field(default_factory=list)
    # An operator console with a client connected, alive at every `at` (unless told otherwise).
    console: bool = True

    async def raise_alarm(self, kind: AlarmKind = AlarmKind.SOS, *, policies: PolicyBook | None = None) -> int:
        """A press on a band of the resident (a fresh band each time, so alarms do not merge)."""
        now = self.clock.now()
        self.start = self.start or now
        async with self.sessions() as session, session.begin():
            band = Band(
                serial=f"B-{uuid.uuid4().hex[:8]}",
                model="test",
                status=BandStatus.ACTIVE,
                resident_id=self.seeded.resident_id,
                secret_hash="-",
                created_at=now,
            )
            session.add(band)
            await session.flush()
            message = BandMessage(
                band_id=band.id, message_id=uuid.uuid4().hex, kind=kind.value, received_at=now, payload={}
            )
            session.add(message)
            await session.flush()
            result = await raise_or_merge(
                session,
                band=band,
                resident_municipality_id=self.seeded.municipality_id,
                kind=kind,
                band_message_id=message.id,
                received_at=now,
                policies=policies or load_policies(DEFAULT_POLICIES),
            )
            return result.alarm_id

    async def at(self, seconds: float, worker: EscalationWorker | None = None) -> list[Fired]:
        """Move the clock to `seconds` after the first alarm, and run a worker round."""
        self.clock.advance((self.start + timedelta(seconds=seconds) - self.clock.now()).total_seconds())
        if self.console:
            async with self.sessions() as session, session.begin():
                await record_console(session, name="test", clients_since=self.start, now=self.clock.now())
        return await (worker or self.worker).run_round()

    async def claim(self, alarm_id: int) -> None:
        async with self.sessions() as session, session.begin():
            await apply_move(
                session, at=self.clock.now(), alarm_id=alarm_id, move=Move.CLAIM, actor=Actor.staff(self.staff_id)
            )

    async def resolve(self, alarm_id: int) -> None:
        async with self.sessions() as session, session.begin():
            await apply_move(
                session,
                at=self.clock.now(),
                alarm_id=alarm_id,
                move=Move.RESOLVE,
                actor=Actor.staff(self.staff_id),
                outcome=Outcome.RESIDENT_OK,
                note="Called Helena: she is fine.",
            )

    async def calls(self, alarm_id: int) -> list[tuple[str, str, str]]:
        """(channel, phone, status) of every notification of the alarm, oldest first."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(Notification.channel, Notification.to_phone, Notification.status)
                .where(Notification.alarm_id == alarm_id)
                .order_by(Notification.id)
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]

    async def escalated(self, alarm_id: int) -> list[dict[str, Any]]:
        """The details of the alarm's escalation events, oldest first."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent.detail)
                .where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == "escalated")
                .order_by(AlarmEvent.id)
            )
            return list(rows.scalars())

    async def steps_fired(self, alarm_id: int) -> list[tuple[int, list[str]]]:
        return [(d["step"], d["targets"]) for d in await self.escalated(alarm_id) if "step" in d]

    async def alarm(self, alarm_id: int) -> Alarm:
        async with self.sessions() as session:
            return (await session.execute(select(Alarm).where(Alarm.id == alarm_id))).scalar_one()

    async def escalation(self, alarm_id: int) -> Escalation:
        async with self.sessions() as session:
            return (await session.execute(select(Escalation).where(Escalation.alarm_id == alarm_id))).scalar_one()


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Centre:
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        await service.add_contact(
            session, clock, resident_id=seeded.resident_id, name="Jan Kowalski", phone="602 345 678", priority=2
        )
    operator = await create_staff(sessions, clock, full_name="Ola Operator", municipality_ids=[seeded.municipality_id])
    return Centre(sessions, clock, seeded, operator.id, EscalationWorker(sessions, clock))


async def test_an_sos_claimed_at_30_s_reaches_nobody_by_phone(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    await centre.at(0)
    assert await centre.steps_fired(alarm) == [(1, ["operators"])]
    await centre.at(30)
    await centre.claim(alarm)
    for second in (60, 180, 270, 600):
        await centre.at(second)
    assert await centre.steps_fired(alarm) == [(1, ["operators"])]
    assert await centre.calls(alarm) == []
    assert (await centre.alarm(alarm)).overdue_at is None
    assert (await centre.escalation(alarm)).state == "paused"


async def test_an_sos_nobody_claims_goes_to_the_supervisor_then_relatives_in_order(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    await centre.at(0)
    await centre.at(59)
    assert await centre.steps_fired(alarm) == [(1, ["operators"])]

    await centre.at(60)
    supervisor = (await centre.escalated(alarm))[-1]
    assert (supervisor["targets"], supervisor["overdue"], supervisor["sound"]) == (["supervisor"], True, True)
    assert (await centre.alarm(alarm)).overdue_at == centre.clock.now()

    await centre.at(179)
    assert await centre.calls(alarm) == []
    await centre.at(180)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending")]
    await centre.at(269)
    assert len(await centre.calls(alarm)) == 1
    await centre.at(270)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending"), ("voice", CONTACT_2, "pending")]
    # Every contact called: after 300 s the policy goes round once more from the supervisor.
    await centre.at(569)
    await centre.at(570)
    assert await centre.steps_fired(alarm) == [
        (1, ["operators"]),
        (2, ["supervisor"]),
        (3, ["contacts"]),
        (3, ["contacts"]),
        (2, ["supervisor"]),
    ]


async def test_a_policy_edited_after_the_alarm_was_raised_does_not_change_it(centre: Centre, tmp_path: Path) -> None:
    path = tmp_path / "escalation.toml"
    path.write_text(DEFAULT_POLICIES.read_text())
    first = await centre.raise_alarm(policies=load_policies(path))
    path.write_text(DEFAULT_POLICIES.read_text().replace("after_s = 60,", "after_s = 10,"))
    second = await centre.raise_alarm(policies=load_policies(path))

    await centre.at(0)
    await centre.at(10)
    assert await centre.steps_fired(first) == [(1, ["operators"])]
    assert await centre.steps_fired(second) == [(1, ["operators"]), (2, ["supervisor"])]
    await centre.at(60)
    assert await centre.steps_fired(first) == [(1, ["operators"]), (2, ["supervisor"])]


async def test_a_restarted_worker_resumes_exactly_and_a_replayed_job_does_nothing(
    centre: Centre, database_url: str
) -> None:
    alarm = await centre.raise_alarm()
    await centre.at(0)
    await centre.at(60)
    # "Restart": a new engine, session factory and worker on the same database.
    engine = make_engine(database_url)
    try:
        restarted = EscalationWorker(make_session_factory(engine), centre.clock)
        centre.clock.advance(120)
        [job] = await restarted.due_jobs()
        assert await restarted.fire(job) == Fired.STEP
        assert await centre.worker.fire(job) == Fired.STALE  # the same job again: fenced
        assert await centre.at(180, restarted) == []
    finally:
        await engine.dispose()
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending")]
    assert [step for step, _ in await centre.steps_fired(alarm)] == [1, 2, 3]


async def test_two_workers_in_the_same_round_fire_each_due_step_once(centre: Centre, database_url: str) -> None:
    alarms = [await centre.raise_alarm() for _ in range(6)]
    await centre.at(0)
    await centre.at(60)
    engine = make_engine(database_url)
    try:
        other = EscalationWorker(make_session_factory(engine), centre.clock)
        centre.clock.advance(120)
        # Both read the same due jobs before either fires: the race SKIP LOCKED and the version settle.
        jobs_a, jobs_b = await centre.worker.due_jobs(), await other.due_jobs()
        assert len(jobs_a) == len(jobs_b) == 6
        fired = await asyncio.gather(*(centre.worker.fire(job) for job in jobs_a), *(other.fire(job) for job in jobs_b))
        assert sorted(fired).count(Fired.STEP) == 6
        assert sorted(fired).count(Fired.STALE) == 6
        await asyncio.gather(centre.at(180), centre.at(180, other))
    finally:
        await engine.dispose()
    for alarm in alarms:
        assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending")]
        assert [step for step, _ in await centre.steps_fired(alarm)] == [1, 2, 3]


async def test_resolving_ends_the_escalation_and_cancels_calls_not_yet_made(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    for second in (0, 60, 180):
        await centre.at(second)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending")]
    await centre.claim(alarm)
    await centre.resolve(alarm)
    await centre.at(181)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "cancelled")]
    assert (await centre.escalation(alarm)).state == "done"
    await centre.at(1000)
    assert len(await centre.calls(alarm)) == 1


async def test_a_claimed_alarm_left_alone_goes_back_to_the_queue_and_escalation_goes_on(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    await centre.at(0)
    await centre.at(20)
    await centre.claim(alarm)
    await centre.at(60)
    await centre.at(919)
    assert (await centre.alarm(alarm)).status == "claimed"
    await centre.at(920)  # claimed at 20 s, nothing done for claimed_no_progress_s = 900
    assert (await centre.alarm(alarm)).status == "raised"
    assert (await centre.escalated(alarm))[-1]["reason"] == "claimed_no_progress"
    await centre.at(921)
    assert [step for step, _ in await centre.steps_fired(alarm)] == [1, 2]


async def test_a_municipality_override_is_used_for_its_residents_only(centre: Centre, tmp_path: Path) -> None:
    async with centre.sessions() as session:
        code = (
            await session.execute(select(Municipality.code).where(Municipality.id == centre.seeded.municipality_id))
        ).scalar_one()
    path = tmp_path / "escalation.toml"
    path.write_text(
        DEFAULT_POLICIES.read_text()
        + f"""
[policies.sms_first]
steps = [{{ after_s = 0, channel = "sms", targets = ["contacts", "responder:carer"] }}]

[responders.carer]
phone = "+48712345678"

[municipalities."{code}"]
fall = "sms_first"
"""
    )
    policies = load_policies(path)
    fall = await centre.raise_alarm(AlarmKind.FALL, policies=policies)
    sos = await centre.raise_alarm(AlarmKind.SOS, policies=policies)
    await centre.at(0)
    assert await centre.calls(fall) == [("sms", CONTACT_1, "pending"), ("sms", "+48712345678", "pending")]
    assert await centre.calls(sos) == []
    assert (await centre.escalation(fall)).policy["source"] == f"municipality {code}"


async def test_the_duty_roster_says_who_is_called(centre: Centre, tmp_path: Path) -> None:
    now = centre.clock.now()
    async with centre.sessions() as session, session.begin():
        # The night's supervisor for this municipality, and a centre-wide one: the municipality's first.
        await add_shift(
            session,
            role="supervisor",
            name="Nocny",
            phone="+48713000001",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=8),
            created_at=now,
            municipality_id=centre.seeded.municipality_id,
        )
        await add_shift(
            session,
            role="supervisor",
            name="Centrum",
            phone="+48713000002",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=8),
            created_at=now,
        )
    path = tmp_path / "escalation.toml"
    path.write_text(
        DEFAULT_POLICIES.read_text().replace('sos = "life"', 'sos = "roster"')
        + """
[policies.roster]
steps = [
  { after_s = 0, channel = "sms", targets = ["on_duty:supervisor", "on_duty:responder"] },
]
"""
    )
    sos = await centre.raise_alarm(AlarmKind.SOS, policies=load_policies(path))
    await centre.at(0)
    # The supervisor on duty is texted; with no responder on duty, the event says so.
    assert await centre.calls(sos) == [("sms", "+48713000001", "pending")]
    assert (await centre.escalated(sos))[0]["on_duty:responder"] == "nobody on duty"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ('targets = ["supervisor"], sound', 'targets = ["contacts"], sound'),
            "policy 'life' step 2: target 'contacts' cannot be reached on the console",
        ),
        (
            ('channel = "voice", targets = ["contacts"]', 'channel = "pigeon", targets = ["contacts"]'),
            "policy 'life' step 3, field channel: Input should be",
        ),
        (
            (
                'channel = "voice", targets = ["on_duty:supervisor"]',
                'channel = "pigeon", targets = ["on_duty:supervisor"]',
            ),
            "policy 'life' unattended step 2, field channel: Input should be",
        ),
        (
            ('channel = "sms", targets = ["on_duty:supervisor"]', 'channel = "sms", targets = ["contacts"]'),
            "policy 'life': unattended step 1: target 'contacts'; use on_duty:supervisor or on_duty:responder",
        ),
        (
            ('channel = "sms", targets = ["on_duty:supervisor"]', 'channel = "console", targets = ["supervisor"]'),
            "policy 'life': unattended step 1: channel must be sms or voice",
        ),
        (("unattended_wait_s = 60", "unattended_wait_s = -1"), "policy 'life', field unattended_wait_s: Input should"),
        (('fall = "life"', 'fall = "lief"'), "[kinds]: fall names policy 'lief', which is not defined"),
        (("after_s = 120,", "after_s = -5,"), "policy 'life' step 3, field after_s: Input should be greater"),
    ],
)
async def test_a_bad_policy_file_is_refused_in_one_line(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    path = tmp_path / "escalation.toml"
    text = DEFAULT_POLICIES.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(PolicyError) as refused:
        load_policies(path)
    message = str(refused.value)
    assert expected in message
    assert "\n" not in message
    assert str(path) in message


# -- relatives' answers, arrival confirmation, the all-clear, an empty console -------------------------------


async def answer(centre: Centre, alarm_id: int, phone: str, said: Answer) -> None:
    """A relative's answer as the webhooks record it (by SMS here), at the clock's time."""
    async with centre.sessions() as session, session.begin():
        contact_id = (await session.execute(select(Contact.id).where(Contact.phone == phone))).scalar_one()
        await record_response(
            session, alarm_id=alarm_id, contact_id=contact_id, answer=said, via="sms", at=centre.clock.now()
        )


async def reasons(centre: Centre, alarm_id: int) -> list[str]:
    return [d["reason"] for d in await centre.escalated(alarm_id) if "reason" in d]


async def test_a_late_going_still_counts_and_cancels_the_next_call(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    for second in (0, 60, 180, 270):
        await centre.at(second)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending"), ("voice", CONTACT_2, "pending")]
    # Contact 1 answers after the step has moved on to contact 2: it counts, and the calls not yet
    # made (no sender runs here) are cancelled.
    await centre.at(275)
    await answer(centre, alarm, CONTACT_1, Answer.GOING)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "cancelled"), ("voice", CONTACT_2, "cancelled")]
    assert await reasons(centre, alarm) == ["relative_going"]
    assert (await centre.escalation(alarm)).state == "arrival"
    # The repeat (supervisor again at 570) waits for the arrival timer instead.
    await centre.at(275 + 1199)
    assert await reasons(centre, alarm) == ["relative_going"]
    assert [step for step, _ in await centre.steps_fired(alarm)] == [1, 2, 3, 3]
    await centre.at(275 + 1200)
    assert await reasons(centre, alarm) == ["relative_going", "arrival_not_confirmed"]
    # The life policy resumes: the repeat goes on from where the escalation stood.
    await centre.at(275 + 1201)
    assert [step for step, _ in await centre.steps_fired(alarm)] == [1, 2, 3, 3, 2]


async def test_cannot_reaches_the_next_contact_at_once(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    for second in (0, 60, 180):
        await centre.at(second)
    await centre.at(200)
    await answer(centre, alarm, CONTACT_1, Answer.CANNOT)
    await centre.at(201)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending"), ("voice", CONTACT_2, "pending")]


@pytest.mark.parametrize("ended", ["no-answer", "busy", "failed"])
async def test_an_unanswered_call_reaches_the_next_contact_at_once(centre: Centre, ended: str) -> None:
    alarm = await centre.raise_alarm()
    for second in (0, 60, 180):
        await centre.at(second)
    [call] = await notification_ids(centre, alarm)
    await centre.at(200)
    async with centre.sessions() as session, session.begin():
        await apply_provider_status(
            session,
            notification_id=call,
            provider_id="CA1",
            provider_status=ended,
            error_code=None,
            at=centre.clock.now(),
        )
    await centre.at(201)  # not the policy's 90 s
    assert await centre.calls(alarm) == [
        ("voice", CONTACT_1, "no_answer" if ended != "failed" else "failed"),
        ("voice", CONTACT_2, "pending"),
    ]


async def test_an_unanswered_call_after_the_claim_hurries_nobody(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    for second in (0, 60, 180):
        await centre.at(second)
    [call] = await notification_ids(centre, alarm)
    await centre.claim(alarm)
    async with centre.sessions() as session, session.begin():
        await apply_provider_status(
            session,
            notification_id=call,
            provider_id="CA1",
            provider_status="no-answer",
            error_code=None,
            at=centre.clock.now(),
        )
    await centre.at(300)
    assert [phone for _, phone, _ in await centre.calls(alarm)] == [CONTACT_1]


async def notification_ids(centre: Centre, alarm_id: int) -> list[int]:
    async with centre.sessions() as session:
        query = select(Notification.id).where(Notification.alarm_id == alarm_id).order_by(Notification.id)
        return list((await session.execute(query)).scalars())


async def test_a_claim_while_a_phone_step_fires_means_nobody_is_called(centre: Centre) -> None:
    """An operator claims the alarm in the very moment the relatives' step comes due: either the
    claim commits first and the step sees it, or the step commits first; never a call placed
    for an alarm the step saw unclaimed while the claim was already made."""
    alarm = await centre.raise_alarm()
    await centre.at(0)
    await centre.at(60)
    centre.clock.advance(120)
    [job] = await centre.worker.due_jobs()
    async with centre.sessions() as claiming, claiming.begin():
        await apply_move(
            claiming, at=centre.clock.now(), alarm_id=alarm, move=Move.CLAIM, actor=Actor.staff(centre.staff_id)
        )
        firing = asyncio.create_task(centre.worker.fire(job))
        await asyncio.sleep(0.5)  # the step is under way while the claim is not yet committed
        assert not firing.done(), "the step did not wait for the alarm's row"
    assert await firing == Fired.PAUSED
    assert await centre.calls(alarm) == []


async def test_a_late_cannot_from_an_earlier_contact_does_not_hurry_the_one_being_called(centre: Centre) -> None:
    async with centre.sessions() as session, session.begin():
        await service.add_contact(
            session, centre.clock, resident_id=centre.seeded.resident_id, name="Trzeci", phone="603 456 789", priority=3
        )
    alarm = await centre.raise_alarm()
    for second in (0, 60, 180, 270):
        await centre.at(second)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending"), ("voice", CONTACT_2, "pending")]
    waiting_until = (await centre.escalation(alarm)).next_due_at
    await centre.at(275)
    await answer(centre, alarm, CONTACT_1, Answer.CANNOT)  # contact 2's phone is ringing meanwhile
    assert (await centre.escalation(alarm)).next_due_at == waiting_until


async def test_going_then_cannot_from_the_same_relative_goes_on_at_once(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    for second in (0, 60, 180):
        await centre.at(second)
    await answer(centre, alarm, CONTACT_1, Answer.GOING)
    await centre.at(200)
    assert len(await centre.calls(alarm)) == 1
    await answer(centre, alarm, CONTACT_1, Answer.CANNOT)
    await centre.at(201)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "cancelled"), ("voice", CONTACT_2, "pending")]


async def test_an_answer_about_a_closed_alarm_changes_nothing(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    for second in (0, 60, 180):
        await centre.at(second)
    await centre.claim(alarm)
    await centre.resolve(alarm)
    await answer(centre, alarm, CONTACT_1, Answer.GOING)
    await centre.at(2000)
    assert await reasons(centre, alarm) == []
    assert (await centre.escalation(alarm)).state == "done"


async def test_the_all_clear_is_queued_once_when_the_alarm_closes_even_after_the_policy_ran_out(
    centre: Centre, tmp_path: Path
) -> None:
    path = tmp_path / "escalation.toml"
    path.write_text(
        DEFAULT_POLICIES.read_text().replace("arrival_timeout_resumes = true", "arrival_timeout_resumes = false")
    )
    alarm = await centre.raise_alarm(policies=load_policies(path))
    for second in (0, 60, 180):
        await centre.at(second)
    async with centre.sessions() as session, session.begin():  # the call was answered
        await session.execute(update(Notification).where(Notification.alarm_id == alarm).values(status="delivered"))
    await answer(centre, alarm, CONTACT_1, Answer.GOING)
    await centre.at(180 + 1200)
    assert await reasons(centre, alarm) == ["relative_going", "arrival_not_confirmed"]
    assert (await centre.escalation(alarm)).state == "done"  # no resume: nothing left to do
    await centre.at(3000)
    assert [c for c in await centre.calls(alarm) if c[1] == CONTACT_2] == []

    await centre.claim(alarm)
    await centre.resolve(alarm)
    async with centre.sessions() as session, session.begin():  # a resolve that ends it itself
        await end_for_alarm(session, alarm_id=alarm, at=centre.clock.now())
    await centre.at(3001)
    await centre.at(3002)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "delivered"), ("sms", CONTACT_1, "pending")]
    assert (await centre.escalation(alarm)).next_due_at is None


@pytest.mark.parametrize("console", ["none", "stale", "no clients"])
async def test_with_no_console_connected_the_phone_steps_come_at_once(centre: Centre, console: str) -> None:
    centre.console = False
    if console != "none":
        async with centre.sessions() as session, session.begin():
            await record_console(
                session,
                name="test",
                clients_since=centre.clock.now() if console == "stale" else None,
                now=centre.clock.now() - timedelta(seconds=20 if console == "stale" else 0),
            )
    alarm = await centre.raise_alarm()
    await centre.at(0)
    await centre.at(1)
    assert (await centre.alarm(alarm)).overdue_at is not None
    await centre.at(2)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending")]
    # The wait between contacts is the relatives', not the operators': it stays.
    await centre.at(91)
    assert len(await centre.calls(alarm)) == 1
    await centre.at(92)
    assert len(await centre.calls(alarm)) == 2


async def test_when_the_console_goes_away_during_the_wait_the_phone_steps_come_at_once(centre: Centre) -> None:
    alarm = await centre.raise_alarm()
    await centre.at(0)
    await centre.at(60)
    await centre.at(100)
    assert await centre.calls(alarm) == []
    centre.console = False  # the last operator closed the console at 100 s: gone 15 s later
    await centre.at(114)
    assert await centre.calls(alarm) == []
    await centre.at(116)
    await centre.at(117)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending")]
    # The repeat's wait comes after the phone steps: it is kept.
    await centre.at(207)
    await centre.at(208)
    assert [step for step, _ in await centre.steps_fired(alarm)] == [1, 2, 3, 3]
    await centre.at(300)
    assert [step for step, _ in await centre.steps_fired(alarm)] == [1, 2, 3, 3]


async def _night_supervisor(centre: Centre) -> None:
    now = centre.clock.now()
    async with centre.sessions() as session, session.begin():
        await add_shift(
            session,
            role="supervisor",
            name="Nocny",
            phone="+48713000001",
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=8),
            created_at=now,
        )


@pytest.mark.parametrize(("gone_at", "relatives_at"), [(100, 176), (150, 180)])
async def test_when_the_console_goes_away_the_supervisor_is_paged_once_and_relatives_wait_no_longer_than_planned(
    centre: Centre, gone_at: int, relatives_at: int
) -> None:
    await _night_supervisor(centre)
    alarm = await centre.raise_alarm()
    await centre.at(0)
    await centre.at(60)
    await centre.at(gone_at)
    centre.console = False  # presence ends 15 s later
    found_empty = gone_at + 16
    await centre.at(found_empty)
    # Paged at once; relatives after the supervisor's minute, but never later than the policy's 180 s.
    assert await centre.calls(alarm) == [("sms", "+48713000001", "pending"), ("voice", "+48713000001", "pending")]
    [skipped] = [d for d in await centre.escalated(alarm) if d.get("reason") == "wait_skipped"]
    assert skipped["why"] == "no_console"
    assert (skipped["after_step"], skipped["next_step"], skipped["wait_s"]) == (2, 3, 120)
    assert (skipped["waited_s"], skipped["kept_s"]) == (found_empty - 60, relatives_at - found_empty)
    await centre.at(found_empty + 1)
    await centre.at(relatives_at - 1)
    assert len(await centre.calls(alarm)) == 2
    await centre.at(relatives_at)
    assert (await centre.calls(alarm))[2] == ("voice", CONTACT_1, "pending")
    # Each wait is skipped, and the supervisor paged, once.
    reasons = [d.get("reason") for d in await centre.escalated(alarm)]
    assert (reasons.count("wait_skipped"), reasons.count("unattended")) == (1, 2)


async def test_a_policy_without_unattended_steps_pages_nobody(centre: Centre, tmp_path: Path) -> None:
    await _night_supervisor(centre)
    centre.console = False
    path = tmp_path / "escalation.toml"
    text = DEFAULT_POLICIES.read_text()
    start, end = text.index("unattended_wait_s = 60"), text.index("steps = [", text.index("unattended_wait_s = 60"))
    path.write_text(text[:start] + text[end:])
    alarm = await centre.raise_alarm(policies=load_policies(path))
    await centre.at(0)
    await centre.at(1)
    await centre.at(2)
    assert await centre.calls(alarm) == [("voice", CONTACT_1, "pending")]
    skipped = [d for d in await centre.escalated(alarm) if d.get("reason") == "wait_skipped"]
    assert [(d["after_step"], d["wait_s"], d["kept_s"]) for d in skipped] == [(1, 60, 0), (2, 120, 0)]
    assert not [d for d in await centre.escalated(alarm) if d.get("reason") == "unattended"]
