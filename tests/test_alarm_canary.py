"""The alarm canary in one process, on a real broker and database: the canary band's SOS goes
through the real gateway, the engine's echo closes it, and the console's live feed delivers it
closed. Operators never see it (queue, feed). Each part of the path taken away in turn loses the
canary at that part, raises one canary_lost alarm for the supervisor, and the next canary through
clears it. Old canary alarms are purged."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms import repository
from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.canary import band as canary_band
from alarm_center.canary.echo import CanaryEcho
from alarm_center.canary.stages import Stage
from alarm_center.canary.status import canary_status
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import PolicySource
from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from core.mqtt.endpoint import MqttEndpoint
from core.settings import PROJECT_ROOT, CanarySettings
from opaska.canary_probe import CanaryProbe
from registry.model import Band
from registry.traffic.messages import BandMessage
from simulator.lab.staff import create_staff, log_in
from tests.support.gateway import GatewayHarness
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def feed(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AlarmFeed]:
    feed = AlarmFeed(sessions, poll_s=0.05)
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def engine_echo(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[None]:
    """The engine's canary echo, every 50 ms of real time (the fake clock does not move by itself)."""
    echo = CanaryEcho(sessions, clock)

    async def loop() -> None:
        while True:
            await echo.run_pass()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _probe(harness: GatewayHarness, feed: AlarmFeed, *, timeout_s: float = 4.0) -> CanaryProbe:
    endpoint = harness.endpoint
    return CanaryProbe(
        sessions=harness.sessions,
        feed=feed,
        clock=harness.clock,
        settings=CanarySettings(every_s=1, timeout_s=timeout_s),
        band_endpoint=MqttEndpoint(endpoint.host, endpoint.port, tls=endpoint.tls),
        topics=harness.topics,
        policies=PolicySource(PROJECT_ROOT / "config" / "escalation.toml"),
    )


async def _alarms(sessions: async_sessionmaker[AsyncSession], kind: str) -> list[Alarm]:
    async with sessions() as session:
        return list((await session.execute(select(Alarm).where(Alarm.kind == kind).order_by(Alarm.id))).scalars())


async def test_a_canary_goes_through_the_whole_path_unseen_by_operators(
    harness: GatewayHarness, feed: AlarmFeed, clock: FakeClock
) -> None:
    sessions = harness.sessions
    probe = _probe(harness, feed)
    async with (
        harness.gateway(),
        engine_echo(sessions, clock),
        feed.subscribe() as operators_feed,
    ):
        try:
            first = await probe.run_round()
            second = await probe.run_round()
        finally:
            await probe.stop()
    assert (first.ok, first.stage, second.ok) == (True, None, True), (first, second)
    assert 0 < first.seconds < 4

    [one, two] = await _alarms(sessions, "canary")
    assert (one.id, two.id) == (first.alarm_id, second.alarm_id)
    assert (one.status, one.outcome, one.municipality_id, one.resident_id) == ("resolved", "auto_cleared", None, None)
    async with sessions() as session:
        band = (await session.execute(select(Band).where(Band.serial == canary_band.SERIAL))).scalar_one()
        assert band.is_canary
        assert one.band_id == band.id
        # Never in anyone's queue, never on an operator's live feed.
        assert [a for a in await repository.open_alarms(session) if a.kind == "canary"] == []
        status = await canary_status(session, now=clock.now())
    assert operators_feed.empty()
    assert (status.state, status.stage) == ("ok", None)
    assert status.last_ok_seconds == pytest.approx(second.seconds, abs=0.001)
    assert await probe.state() == "ok"
    assert await _alarms(sessions, "canary_lost") == []


async def test_each_part_taken_away_loses_the_canary_there_and_the_next_one_clears(
    harness: GatewayHarness, feed: AlarmFeed, clock: FakeClock
) -> None:
    sessions = harness.sessions
    probe = _probe(harness, feed, timeout_s=3.0)
    try:
        # No gateway: the press is never stored.
        lost = await probe.run_round()
        assert (lost.ok, lost.stage) == (False, Stage.GATEWAY)
        assert (await probe.state()).startswith("lost: no alarm canary through the alarm path")
        [alarm] = await _alarms(sessions, "canary_lost")
        assert (alarm.status, alarm.municipality_id, alarm.priority) == ("raised", None, 3)
        async with sessions() as session:
            escalation = (await session.execute(select(Escalation).where(Escalation.alarm_id == alarm.id))).scalar_one()
            raised = (
                await session.execute(
                    select(AlarmEvent).where(AlarmEvent.alarm_id == alarm.id, AlarmEvent.type == "raised")
                )
            ).scalar_one()
            # The supervisor's queue has it (no municipality: those who see all of them).
            assert alarm.id in {a.id for a in await repository.open_alarms(session)}
            status = await canary_status(session, now=clock.now())
        assert escalation.policy["name"] == "canary_lost"
        assert raised.detail["stage"] == "gateway"
        assert (status.state, status.stage) == ("lost", "gateway")

        # Still broken: the same alarm stays, no second one.
        assert (await probe.run_round()).stage == Stage.GATEWAY
        assert len(await _alarms(sessions, "canary_lost")) == 1

        # The gateway is back, but no engine closes canaries.
        async with harness.gateway():
            stuck = await probe.run_round()
            assert (stuck.ok, stuck.stage) == (False, Stage.ENGINE)
            assert len(await _alarms(sessions, "canary_lost")) == 1

            # Everything up: through, and the canary_lost alarm is cleared by the system.
            async with engine_echo(sessions, clock):
                through = await probe.run_round()
        assert through.ok, through
        [alarm] = await _alarms(sessions, "canary_lost")
        assert (alarm.status, alarm.outcome) == ("resolved", "auto_cleared")
        assert await probe.state() == "ok"
    finally:
        await probe.stop()


async def test_old_canary_alarms_and_messages_are_purged(
    harness: GatewayHarness, feed: AlarmFeed, clock: FakeClock
) -> None:
    sessions = harness.sessions
    probe = _probe(harness, feed)
    async with harness.gateway(), engine_echo(sessions, clock):
        try:
            assert (await probe.run_round()).ok
        finally:
            await probe.stop()
    [alarm] = await _alarms(sessions, "canary")

    async def counted() -> tuple[int, int]:
        async with sessions() as session:
            events = await session.scalar(select(func.count()).where(AlarmEvent.alarm_id == alarm.id))
            messages = await session.scalar(
                select(func.count()).select_from(BandMessage).where(BandMessage.band_id == alarm.band_id)
            )
        return int(events or 0), int(messages or 0)

    events, messages = await counted()
    assert events >= 2
    assert messages >= 1
    echo = CanaryEcho(sessions, clock)
    await echo.run_pass()  # within the hour: kept
    assert await _alarms(sessions, "canary") != []
    clock.advance(timedelta(hours=1, minutes=1).total_seconds())
    await CanaryEcho(sessions, clock).run_pass()
    assert await _alarms(sessions, "canary") == []
    assert await counted() == (0, 0)


async def test_every_operator_and_supervisor_sees_canary_lost_whatever_their_municipality(
    harness: GatewayHarness, feed: AlarmFeed, clock: FakeClock
) -> None:
    sessions = harness.sessions
    seeded = await seed_resident_with_band(sessions, clock)
    probe = _probe(harness, feed, timeout_s=2.0)
    try:
        assert (await probe.run_round()).stage == Stage.GATEWAY  # no gateway runs
    finally:
        await probe.stop()
    [lost] = await _alarms(sessions, "canary_lost")
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    for role, sees in (("operator", True), ("supervisor", True), ("technician", False)):
        member = await create_staff(sessions, clock, role=role, municipality_ids=[seeded.municipality_id])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
            await log_in(http, member)
            listed = (await http.get("/api/alarms")).json()
            opened = await http.get(f"/api/alarms/{lost.id}")
            status = (await http.get("/api/platform/canary")).json()
        assert (lost.id in {a["id"] for a in listed}) is sees, role
        assert (opened.status_code == 200) is sees, role
        assert (status["state"], status["stage"]) == ("lost", "gateway")
