"""Two gateways sharing the band traffic of one real Mosquitto (MQTT shared subscriptions).

Both run in this loop with distinct client ids and one `shared_group`, on the project's Mosquitto
config and ACL (the service account subscribes to `$share/...` filters; Mosquitto checks its
read right on each delivered message's own topic). Bands are real MQTT clients on the band
listener. Mosquitto hands each message of a shared subscription to one member in strict turn, so
two messages in a row never go to the same gateway: the database alone must keep every message
once, merge repeated presses and let one gateway cancel a fall the other one stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm, AlarmStatus
from alarm_center.alarms.resident_cancel import CancelOutcome
from core.clock import FakeClock
from core.mqtt.endpoint import parse_mqtt_url
from gateway.runner import Gateway
from gateway.stored import AlarmStored
from gateway.topics import TopicScheme
from registry.traffic.messages import BandMessage
from simulator.band import RepeatPolicy, VirtualBand
from tests.support.gateway import eventually, running_gateway
from tests.support.mosquitto import MosquittoProcess
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


@dataclass
class Member:
    """One gateway of the group, and the alarms it stored (duplicates left out)."""

    name: str
    stored: list[AlarmStored]
    stack: contextlib.AsyncExitStack
    gateway: Gateway | None = None

    @property
    def running(self) -> Gateway:
        assert self.gateway is not None, f"gateway {self.name} is stopped"
        return self.gateway

    def kinds(self, serial: str) -> list[str]:
        return [s.kind for s in self.stored if s.band == serial]


@dataclass
class Group:
    broker: MosquittoProcess
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    topics: TopicScheme
    client_prefix: str
    shared_group: str
    members: dict[str, Member]

    async def start(self, name: str) -> Member:
        """Gateway `name` (again, with its persistent session, if it ran before)."""
        member = self.members.get(name) or Member(name, [], contextlib.AsyncExitStack())
        member.gateway = await member.stack.enter_async_context(
            running_gateway(
                endpoint=self.broker.service_endpoint,
                topics=self.topics,
                sessions=self.sessions,
                clock=self.clock,
                client_prefix=self.client_prefix,
                protocol="5",
                stored=member.stored,
                name=f"gateway-{name}",
                shared_group=self.shared_group,
            )
        )
        self.members[name] = member
        return member

    async def stop(self, name: str) -> None:
        """Disconnect gateway `name`: its session stays at the broker, still a member of the group."""
        member = self.members[name]
        await member.stack.aclose()
        member.gateway = None

    async def band(self, seeded: SeededBand, repeat: RepeatPolicy) -> VirtualBand:
        band = VirtualBand(
            parse_mqtt_url(self.broker.url),
            self.topics,
            seeded.serial,
            password=seeded.secret,
            protocol="5",
            repeat=repeat,
        )
        await band.start()
        return band


@pytest_asyncio.fixture
async def group(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[Group]:
    broker = MosquittoProcess(tmp_path / "mosquitto", topics=topics)
    broker.start()
    running = Group(broker, sessions, clock, topics, client_prefix, f"g{uuid.uuid4().hex[:6]}", {})
    try:
        await running.start("a")
        await running.start("b")
        yield running
    finally:
        for member in running.members.values():
            await member.stack.aclose()
        broker.stop()


async def _seed(group: Group, count: int) -> list[SeededBand]:
    seeded = [
        await seed_resident_with_band(group.sessions, group.clock, serial=f"B-{uuid.uuid4().hex[:8]}")
        for _ in range(count)
    ]
    await group.broker.sync_from(group.sessions)
    return seeded


async def _stored_per_message(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[int, str], int]:
    async with sessions() as session:
        rows = await session.execute(
            select(BandMessage.band_id, BandMessage.message_id, func.count()).group_by(
                BandMessage.band_id, BandMessage.message_id
            )
        )
        return {(band_id, message_id): count for band_id, message_id, count in rows}


async def test_each_message_stored_once_and_the_load_spread(group: Group) -> None:
    seeded = await _seed(group, 6)
    # Slow repeats: a late one would take a turn among the heartbeats counted below.
    bands = [await group.band(s, RepeatPolicy(5, 10)) for s in seeded]
    a, b = group.members["a"], group.members["b"]
    try:
        answers = await asyncio.gather(*(band.press("sos", timeout=30) for band in bands))
        # The main lane's shared subscription too: six heartbeats, three each.
        before = a.running.received, b.running.received
        for band in bands:
            await band.heartbeat()

        async def heartbeats_in() -> bool:
            return a.running.received + b.running.received - sum(before) >= len(bands)

        await eventually(heartbeats_in)
    finally:
        for band in bands:
            await band.stop()
    assert (a.running.received - before[0], b.running.received - before[1]) == (3, 3)

    sent = {
        (s.band_id, msg_id)
        for s, band in zip(seeded, bands, strict=True)
        for kind, msg_id in band.sent
        if kind == "sos"
    }
    assert await _stored_per_message(group.sessions) == dict.fromkeys(sent, 1)
    async with group.sessions() as session:
        alarms = (await session.execute(select(Alarm.band_id, Alarm.id))).all()
    assert Counter(band_id for band_id, _ in alarms) == Counter(s.band_id for s in seeded)
    assert {answer["alarm_id"] for answer in answers} == {alarm_id for _, alarm_id in alarms}
    # Six SOS in strict turn: about three each (a repeat takes a turn too).
    assert min(len(a.stored), len(b.stored)) > 0, (a.stored, b.stored)
    assert len(a.stored) + len(b.stored) == len(seeded)
    assert min(a.running.tally["accepted"], b.running.tally["accepted"]) > 0, (a.running.tally, b.running.tally)


async def test_fall_cancelled_through_the_other_gateway(group: Group) -> None:
    (seeded,) = await _seed(group, 1)
    band = await group.band(seeded, RepeatPolicy(0.5, 1))
    try:
        fall = await band.press("fall", timeout=15)
        (holder,) = [m for m in group.members.values() if m.kinds(seeded.serial) == ["fall"]]
        (other,) = [m for m in group.members.values() if m is not holder]
        # The gateway that stored the fall goes away; its session stays a member of the group, so
        # the cancel's first copy may wait there: the band's repeat is what reaches the other one.
        await group.stop(holder.name)
        cancelled = await band.cancel_fall(timeout=15)
        assert cancelled["alarm_id"] == fall["alarm_id"]
        assert [(s.kind, s.cancel) for s in other.stored] == [("fall_cancel", CancelOutcome.CANCELLED)]
        async with group.sessions() as session:
            alarm = await session.get(Alarm, fall["alarm_id"])
            assert alarm is not None
            assert alarm.status == AlarmStatus.CANCELLED

        # Back, the first gateway takes whatever waited in its session: a duplicate, acked, no effect.
        await group.start(holder.name)
        await asyncio.sleep(1.0)
    finally:
        await band.stop()
    cancel_id = band.sent[-1][1]
    assert await _stored_per_message(group.sessions) == {
        (seeded.band_id, band.sent[0][1]): 1,
        (seeded.band_id, cancel_id): 1,
    }
    assert holder.kinds(seeded.serial) == ["fall"]
    assert [p["msg_id"] for p in band.received("alarm_received")].count(cancel_id) >= 1
    async with group.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Alarm))).scalar_one() == 1


async def test_repeated_presses_on_both_gateways_merge_into_one_alarm(group: Group) -> None:
    (seeded,) = await _seed(group, 1)
    band = await group.band(seeded, RepeatPolicy(2, 4))
    presses = 6
    try:
        # At once: the two gateways race to raise the same band's SOS; the open-alarm index decides.
        answers = await asyncio.gather(*(band.press("sos", timeout=30) for _ in range(presses)))
    finally:
        await band.stop()
    msg_ids = {msg_id for kind, msg_id in band.sent if kind == "sos"}
    assert len(msg_ids) == presses
    assert {p["msg_id"] for p in band.received("alarm_received")} == msg_ids
    async with group.sessions() as session:
        alarm = (await session.execute(select(Alarm))).scalar_one()
    assert {answer["alarm_id"] for answer in answers} == {alarm.id}
    assert alarm.repeat_count == presses - 1
    a, b = group.members["a"], group.members["b"]
    assert min(len(a.kinds(seeded.serial)), len(b.kinds(seeded.serial))) > 0, "every press went to one gateway"
    assert len(a.stored) + len(b.stored) == presses
    assert await _stored_per_message(group.sessions) == {(seeded.band_id, m): 1 for m in msg_ids}
