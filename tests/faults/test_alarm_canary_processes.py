"""The alarm canary in production's topology: Mosquitto with the project's config, and the gateway,
the engine and the console as processes of their own. The console's canary comes through; with
the gateway stopped it is lost within the timeout, the supervisor gets a canary_lost alarm, the
console's /readyz and metrics say so; the gateway back, the next canary clears it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from alarm_center.canary.status import canary_status
from core.clock import SystemClock
from simulator.lab.processes import opaska_env, wait_healthy
from tests.support.gateway import eventually
from tests.support.mosquitto import MosquittoProcess
from tests.support.processes import opaska_process
from tests.support.require import free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.faults]

TIMEOUT_S = 5


async def _status(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session:
        return (await canary_status(session, now=SystemClock().now())).state


async def _open_lost(sessions: async_sessionmaker[AsyncSession]) -> list[Alarm]:
    async with sessions() as session:
        query = select(Alarm).where(Alarm.kind == "canary_lost", Alarm.status.in_(["raised", "claimed"]))
        return list((await session.execute(query)).scalars())


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in the metrics"
    return float(found.group(1))


async def test_stopping_the_gateway_loses_the_canary_and_raises_canary_lost(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    broker = MosquittoProcess(tmp_path / "mosquitto")
    broker.start()
    console_port = free_port()
    env = opaska_env(
        OPASKA_DATABASE_URL=database_url,
        OPASKA_MQTT_URL=broker.service_url,
        OPASKA_MQTT_SERVICE_USERNAME=broker.service_username,
        # The gateway keeps Mosquitto's password file in step with the registry, as in compose.
        OPASKA_MQTT_MOSQUITTO_AUTH_DIR=str(broker.auth.directory),
        OPASKA_MQTT_MOSQUITTO_PID_FILE=str(broker.pid_path),
        OPASKA_METRICS_GATEWAY_PORT="0",
        OPASKA_METRICS_ENGINE_PORT="0",
        OPASKA_CONSOLE_PORT=str(console_port),
        OPASKA_CANARY_ENABLED="true",
        OPASKA_CANARY_EVERY_S="1",
        OPASKA_CANARY_TIMEOUT_S=str(TIMEOUT_S),
        OPASKA_CANARY_BAND_URL=broker.url,
    )
    console_url = f"http://127.0.0.1:{console_port}"
    try:
        with (
            opaska_process(["engine"], env, tmp_path / "engine.log"),
            opaska_process(["console"], env, tmp_path / "console.log") as console,
        ):
            gateway = opaska_process(["gateway"], env, tmp_path / "gateway.log")
            with gateway:
                await wait_healthy(console_url, console, tmp_path / "console.log")

                # Through: once Mosquitto knows the canary band's new secret (the gateway's next
                # sync of the password file), every round comes through.
                async def through() -> bool:
                    return await _status(sessions) == "ok"

                await eventually(through, timeout=60, interval=0.5)
                assert await _open_lost(sessions) == []
                async with httpx.AsyncClient() as client:
                    ready = await client.get(f"{console_url}/readyz")
                    assert ready.json()["checks"]["alarm canary"] == "ok"
                    metrics = (await client.get(f"{console_url}/metrics")).text
                assert _metric(metrics, "opaska_canary_seconds_count") >= 1
                assert _metric(metrics, "opaska_canary_failing") == 0

            # The gateway stopped: the next canary is lost at the gateway within the timeout, and
            # the supervisor's canary_lost alarm is raised well within 30 s.
            stopped = asyncio.get_running_loop().time()

            async def lost() -> bool:
                return await _open_lost(sessions) != []

            await eventually(lost, timeout=30, interval=0.25)
            assert asyncio.get_running_loop().time() - stopped < 30
            [alarm] = await _open_lost(sessions)
            async with sessions() as session:
                assert (await canary_status(session, now=SystemClock().now())).stage == "gateway"
            async with httpx.AsyncClient() as client:
                ready = await client.get(f"{console_url}/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["alarm canary"].startswith("lost: no alarm canary")
                assert _metric((await client.get(f"{console_url}/metrics")).text, "opaska_canary_failing") == 1

            # The gateway back: the next canary through clears the alarm.
            with opaska_process(["gateway"], env, tmp_path / "gateway-again.log"):

                async def cleared() -> bool:
                    return await _open_lost(sessions) == [] and await _status(sessions) == "ok"

                await eventually(cleared, timeout=60, interval=0.5)
            async with sessions() as session:
                closed = await session.get(Alarm, alarm.id)
            assert closed is not None
            assert (closed.status, closed.outcome) == ("resolved", "auto_cleared")
    finally:
        broker.stop()
