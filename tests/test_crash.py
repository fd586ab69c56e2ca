"""The gateway killed (SIGKILL) after receiving alarms and before committing them: nothing is lost,
nothing is doubled.

On Mosquitto with the project's config the broker itself redelivers the unacknowledged messages
(DUP) to the restarted gateway's persistent session; the bands here publish each SOS once and never
repeat, so only that redelivery can save them. On the embedded amqtt broker (which dies with the
process and does not resend in-flight messages anyway) the bands' repeat-until-`alarm_received`
does.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from core.clock import FakeClock
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from gateway.test_hooks import HOLD_BEFORE_COMMIT
from gateway.topics import TopicScheme
from registry.traffic.messages import BandMessage
from simulator.band import RepeatPolicy, VirtualBand
from simulator.lab.processes import opaska_env, wait_healthy
from tests.support.gateway import eventually
from tests.support.mosquitto import MosquittoProcess
from tests.support.processes import opaska_process
from tests.support.require import free_port, free_port_pair
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

BANDS = 5


async def _counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        alarms = (await session.execute(select(func.count()).select_from(Alarm))).scalar_one()
        messages = (await session.execute(select(func.count()).select_from(BandMessage))).scalar_one()
    return int(alarms), int(messages)


async def _wait_for_file(path: Path, process_log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} not written in {timeout} s:\n{process_log.read_text()}")
        await asyncio.sleep(0.05)


async def _wait_for_log(log_path: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in log_path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged in {timeout} s:\n{log_path.read_text()}")
        await asyncio.sleep(0.05)


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def _publish_sos_once(endpoint: MqttEndpoint, topics: TopicScheme, band: SeededBand) -> str:
    """One SOS, QoS 1, from a band that never repeats: a plain paho client, as cheap firmware is."""
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"band-{band.serial}", protocol=paho.MQTTv5
    )
    client.username_pw_set(band.serial, band.secret)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        msg_id = f"{band.serial}-{uuid.uuid4().hex[:8]}"
        body = json.dumps({"v": 1, "msg_id": msg_id, "ts": datetime.now(UTC).isoformat()})
        info = client.publish(topics.uplink(band.serial, "sos"), body, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
        return msg_id
    finally:
        client.disconnect()
        client.loop_stop()


async def test_mosquitto_redelivers_what_a_killed_gateway_had_not_committed(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    bands = [await seed_resident_with_band(sessions, clock) for _ in range(BANDS)]
    broker = MosquittoProcess(tmp_path / "mosquitto", topics=topics)
    await broker.sync_from(sessions)
    broker.start()
    metrics_port = free_port()
    env = opaska_env(
        OPASKA_DATABASE_URL=database_url,
        OPASKA_METRICS_GATEWAY_PORT=str(metrics_port),
        OPASKA_MQTT_URL=broker.service_url,
        OPASKA_MQTT_SERVICE_USERNAME=broker.service_username,
        OPASKA_MQTT_TOPIC_ROOT=topics.root,
        OPASKA_MQTT_CLIENT_ID_PREFIX=client_prefix,
        OPASKA_MQTT_SESSION_EXPIRY_S="300",
    )
    held = tmp_path / "held"
    first_log, second_log = tmp_path / "gateway-1.log", tmp_path / "gateway-2.log"
    try:
        with opaska_process(["gateway"], {**env, HOLD_BEFORE_COMMIT: str(held)}, first_log) as first:
            await _wait_for_log(first_log, "gateway subscribed")
            for band in bands:
                await asyncio.to_thread(_publish_sos_once, parse_mqtt_url(broker.url), topics, band)
            # The gateway has received the first SOS and stopped before committing it.
            await _wait_for_file(held, first_log)
            first.kill()
            first.wait(10)
        assert await _counts(sessions) == (0, 0)

        with opaska_process(["gateway"], env, second_log):

            async def all_stored() -> bool:
                return (await _counts(sessions))[0] >= BANDS

            await eventually(all_stored, timeout=30)
            await asyncio.sleep(1.5)  # room for any second effect to show
            assert await _counts(sessions) == (BANDS, BANDS)
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        redelivered = second_log.read_text().count("redelivered by the broker (dup)")
        # Every SOS had reached the first gateway unacknowledged; the broker resent each one.
        assert redelivered >= BANDS, second_log.read_text()
        assert _sample(metrics, "opaska_band_messages_redelivered_total") >= BANDS
        assert _sample(metrics, 'opaska_band_messages_total{kind="sos",result="accepted"}') == BANDS
    finally:
        broker.stop()


async def test_embedded_broker_crash_is_survived_by_band_repeats(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    bands = [await seed_resident_with_band(sessions, clock) for _ in range(BANDS)]
    broker_port, console_port = free_port_pair(), free_port()
    env = opaska_env(
        OPASKA_DATABASE_URL=database_url,
        OPASKA_MQTT_EMBEDDED_PORT=str(broker_port),
        OPASKA_CONSOLE_PORT=str(console_port),
        OPASKA_MQTT_TOPIC_ROOT=topics.root,
        OPASKA_MQTT_CLIENT_ID_PREFIX=client_prefix,
    )
    endpoint = MqttEndpoint("127.0.0.1", broker_port)
    held = tmp_path / "held"
    first_log, second_log = tmp_path / "run-1.log", tmp_path / "run-2.log"
    virtual = [
        VirtualBand(endpoint, topics, band.serial, password=band.secret, repeat=RepeatPolicy(0.5, 2)) for band in bands
    ]
    presses: list[asyncio.Task[dict[str, object]]] = []
    try:
        with opaska_process(["run"], {**env, HOLD_BEFORE_COMMIT: str(held)}, first_log) as first:
            await wait_healthy(f"http://127.0.0.1:{console_port}", first, first_log)
            for band in virtual:
                await band.start()
            presses = [asyncio.create_task(band.press("sos", timeout=60)) for band in virtual]
            await _wait_for_file(held, first_log)
            first.kill()  # the broker dies with it: whatever it held in memory is gone
            first.wait(10)
        assert await _counts(sessions) == (0, 0)

        with opaska_process(["run"], env, second_log) as second:
            await wait_healthy(f"http://127.0.0.1:{console_port}", second, second_log)
            # The bands reconnect by themselves and repeat until alarm_received.
            answers = await asyncio.wait_for(asyncio.gather(*presses), 60)
        assert all(answer["msg_id"] for answer in answers)
        alarms, _messages = await _counts(sessions)
        assert alarms == BANDS
        async with sessions() as session:
            per_band = (
                await session.execute(select(BandMessage.band_id, func.count()).group_by(BandMessage.band_id))
            ).all()
        # Each band's SOS is stored once, however many times it was repeated.
        assert sorted(count for _, count in per_band) == [1] * BANDS
    finally:
        for task in presses:
            task.cancel()
        for band in virtual:
            await band.stop()
