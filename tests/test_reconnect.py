"""A broker that goes away later: the gateway and the bands reconnect with backoff, alarms flow again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from core.clock import FakeClock
from core.mqtt.endpoint import parse_mqtt_url
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy, VirtualBand
from tests.support.gateway import eventually, running_gateway
from tests.support.mosquitto import MosquittoProcess
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


async def test_gateway_and_band_survive_broker_restart(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    # The project's Mosquitto config with its auth files: the gateway logs in as the service
    # account, the band with its own secret, as in production.
    broker = MosquittoProcess(tmp_path / "mosquitto", topics=topics)
    seeded = await seed_resident_with_band(sessions, clock)
    await broker.sync_from(sessions)
    broker.start()
    endpoint = parse_mqtt_url(broker.url)
    try:
        async with running_gateway(
            endpoint=broker.service_endpoint,
            topics=topics,
            sessions=sessions,
            clock=clock,
            client_prefix=client_prefix,
            protocol="5",
        ) as gateway:
            band = VirtualBand(
                endpoint, topics, seeded.serial, password=seeded.secret, protocol="5", repeat=RepeatPolicy(1, 2)
            )
            await band.start()
            try:
                broker.kill()
                broker.start()
                # The band repeats until the reconnected gateway commits and answers.
                answer = await band.press("sos", timeout=45)
                assert answer["alarm_id"] > 0

                async def one_alarm() -> bool:
                    async with sessions() as session:
                        return (await session.execute(select(func.count()).select_from(Alarm))).scalar_one() == 1

                await eventually(one_alarm)
                assert gateway.received >= 1
            finally:
                await band.stop()
    finally:
        broker.stop()
