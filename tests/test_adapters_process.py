"""The ingress adapters as a centre runs them: `opaska run` / `opaska gateway` with [watch] and
[traccar] enabled, a band registered with `opaska band register --adapter ...`, real sockets."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from core.mqtt.client import AsyncMqttClient
from core.mqtt.endpoint import parse_mqtt_url
from registry.model import Band
from simulator.lab.processes import REPO, opaska_env, wait_healthy
from tests.conftest import TEST_MQTT_URL
from tests.data import traccar_json as tj
from tests.data import traccar_watch_frames as frames
from tests.support.adapters import WatchClient
from tests.support.gateway import eventually
from tests.support.processes import (
    last_line,
    opaska_process,
    opaska_run_to_exit,
    platform_process_setup,
    run_opaska_command,
)
from tests.support.require import free_port, free_port_pair


async def _alarm_kinds(sessions: async_sessionmaker[AsyncSession], serial: str) -> list[str]:
    async with sessions() as session:
        query = select(Alarm.kind).join(Band, Band.id == Alarm.band_id).where(Band.serial == serial)
        return list((await session.execute(query)).scalars())


@pytest.mark.asyncio
@pytest.mark.e2e
async def test_opaska_run_serves_watches_and_traccar(
    sessions: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Path, client_prefix: str
) -> None:
    watch = await run_opaska_command(
        database_url, "band", "register", "--adapter", "watch", "--device-id", "8809008845", "--serial", "W-SOS-1"
    )
    assert watch.returncode == 0, watch.stderr
    assert "hasło MQTT" not in watch.stdout
    assert "łączy się z platformą przez watch jako urządzenie 8809008845" in watch.stdout
    tracker = await run_opaska_command(
        database_url, "band", "register", "--adapter", "traccar", "--imei", "867584031234565"
    )
    assert tracker.returncode == 0, tracker.stderr
    topic_root = f"test-{client_prefix}/opaska/v1"
    setup = platform_process_setup(database_url, topic_root, client_prefix)
    watch_port = free_port()
    env = {
        **setup.env,
        "OPASKA_WATCH_ENABLED": "true",
        "OPASKA_WATCH_HOST": "127.0.0.1",
        "OPASKA_WATCH_PORT": str(watch_port),
        "OPASKA_TRACCAR_ENABLED": "true",
    }
    log_path = tmp_path / "opaska-run.log"
    with opaska_process(["run"], env, log_path) as process:
        await wait_healthy(setup.console_url, process, log_path)
        client = await WatchClient.connect(watch_port)
        await client.send(frames.AL_SOS)
        assert await client.reply() == b"[3G*8809008845*0008*REMOVE,1]"
        assert await client.reply() == b"[3G*8809008845*0002*AL]"
        await client.close()
        assert await _alarm_kinds(sessions, "W-SOS-1") == ["sos"]
        if TEST_MQTT_URL:
            # Traccar itself needs a broker it can log in to: the external one (docs/devices/traccar.md).
            publisher = AsyncMqttClient(parse_mqtt_url(TEST_MQTT_URL), client_id=f"{client_prefix}-traccar-srv")
            await publisher.connect()
            payload = json.dumps(tj.alarm_event("867584031234565", "fallDown")).encode()
            await publisher.publish(f"{topic_root}/traccar/events", payload, qos=1)
            await publisher.disconnect()

            async def fall_raised() -> bool:
                return await _alarm_kinds(sessions, "867584031234565") == ["fall"]

            await eventually(fall_raised, timeout=15)
    assert process.returncode == 0, log_path.read_text()


@pytest.mark.parametrize("command", ["run", "gateway"])
def test_taken_watch_port_is_named_with_the_way_out(tmp_path: Path, command: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        env = opaska_env(
            OPASKA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/o.db",
            OPASKA_MQTT_EMBEDDED_PORT=str(free_port_pair()),
            OPASKA_CONSOLE_PORT=str(free_port()),
            OPASKA_METRICS_GATEWAY_PORT="0",
            OPASKA_WATCH_ENABLED="true",
            OPASKA_WATCH_HOST="127.0.0.1",
            OPASKA_WATCH_PORT=str(taken),
        )
        result = opaska_run_to_exit([command], env)
    assert result.returncode == 1
    line = last_line(result)
    assert f"cannot start the watch receiver: 127.0.0.1:{taken} is already taken" in line
    assert "OPASKA_WATCH_PORT" in line


def test_traccar_and_watch_settings_come_from_the_environment() -> None:
    code = "from core.settings import load_settings; s = load_settings(); print(s.watch.port, s.traccar.events_topic)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=opaska_env(OPASKA_WATCH_PORT="6093", OPASKA_TRACCAR_EVENTS_TOPIC="tc/ev"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.split() == ["6093", "tc/ev"], result.stderr
