"""The real gateway over a real broker: an SOS is committed once, acknowledged, and merged on repeat."""

import asyncio
import json

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm, AlarmEvent
from gateway.stored import AlarmStored
from registry.model import Band
from registry.traffic.messages import BandMessage
from simulator.band import VirtualBand
from tests.support.gateway import GatewayHarness, eventually
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


async def _count(sessions: async_sessionmaker[AsyncSession], model: type[object]) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())  # type: ignore[arg-type]


async def test_sos_committed_acknowledged_and_merged(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    stored: list[AlarmStored] = []
    async with harness.gateway(stored):
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            received = await band.press("sos", timeout=15)
            assert received["alarm_id"] == stored[0].alarm_id
            async with sessions() as session:
                alarm = (await session.execute(select(Alarm))).scalar_one()
                assert (alarm.kind, alarm.status, alarm.resident_id) == ("sos", "raised", seeded.resident_id)
                assert alarm.municipality_id == seeded.municipality_id
                assert alarm.raised_at == clock.now()

            # The same message again (a band that missed alarm_received): acknowledged, not stored twice.
            sos_id = band.sent[-1][1]
            await band.publish("sos", msg_id=sos_id)
            await eventually(lambda: _received_twice(band, sos_id))
            assert await _count(sessions, BandMessage) == 1

            # A second press while the alarm is open merges into it.
            await band.press("sos", timeout=15)
            async with sessions() as session:
                alarm = (await session.execute(select(Alarm))).scalar_one()
                assert alarm.repeat_count == 1
                events = (await session.execute(select(AlarmEvent.type).order_by(AlarmEvent.id))).scalars().all()
                assert events == ["raised", "repeat"]

            # A fall is its own alarm.
            await band.press("fall", timeout=15)
            assert await _count(sessions, Alarm) == 2
        finally:
            await band.stop()


async def _received_twice(band: VirtualBand, msg_id: str) -> bool:
    return sum(1 for kind, p in band.downlink if kind == "alarm_received" and p["msg_id"] == msg_id) >= 2


async def test_malformed_sos_from_known_band_raises_alarm(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with harness.gateway():
        # A plain paho client, as a band with broken firmware might be.
        client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"band-{seeded.serial}")
        client.username_pw_set(seeded.serial, seeded.secret)
        await asyncio.to_thread(client.connect, harness.endpoint.host, harness.endpoint.port)
        client.loop_start()
        try:
            # The broker may run on this very loop: wait for PUBACKs off it.
            for topic, raw in (
                (harness.topics.uplink(seeded.serial, "sos"), b"\x00garbage"),
                (harness.topics.uplink("NOT-REGISTERED", "sos"), b"{}"),
            ):
                await asyncio.to_thread(client.publish(topic, raw, qos=1).wait_for_publish, 10)

            async def alarm_exists() -> bool:
                return await _count(sessions, Alarm) == 1

            await eventually(alarm_exists)
            async with sessions() as session:
                message = (await session.execute(select(BandMessage))).scalar_one()
                assert message.malformed
                assert message.clock_suspect
        finally:
            client.loop_stop()
            client.disconnect()


async def test_heartbeats_update_presence_in_batches(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    async with harness.gateway():
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            for battery in (90, 80, 42):
                band.state.battery = battery
                await band.heartbeat()

            async def battery_is_42() -> bool:
                async with sessions() as session:
                    return (await session.execute(select(Band.battery_pct))).scalar_one() == 42

            await eventually(battery_is_42)
            async with sessions() as session:
                row = (await session.execute(select(Band))).scalar_one()
                assert row.last_seen_at == clock.now()
                assert row.worn is True
            # Heartbeats update presence; they are not stored one row each.
            assert await _count(sessions, BandMessage) == 0
        finally:
            await band.stop()


def _json(payload: bytes) -> dict[str, object]:
    value = json.loads(payload)
    assert isinstance(value, dict)
    return value
