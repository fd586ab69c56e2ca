"""/healthz and /readyz: a killed worker, a stuck escalation, a broker or database away make a
process not ready (503), each named on its own line."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import AlarmKind
from alarm_center.engine import run_engine
from alarm_center.escalation.auditor import AUDITOR_STATE, OVERDUE_ROWS, EscalationAuditor
from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core import health
from core.clock import FakeClock
from core.db.service_state import ServiceState
from core.settings import Settings
from simulator.lab.processes import opaska_env, wait_healthy
from tests.support.alarms import press
from tests.support.processes import opaska_process
from tests.support.require import free_port
from tests.support.seed import seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.faults]


@contextlib.asynccontextmanager
async def _console(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, process: health.Health
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions)), clock=clock, health=process)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client,
    ):
        yield client


async def _until_ready(client: httpx.AsyncClient, timeout: float = 10) -> httpx.Response:
    async with asyncio.timeout(timeout):
        while (answer := await client.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.1)
    return answer


def _task(name: str) -> asyncio.Task[object]:
    (task,) = [task for task in asyncio.all_tasks() if task.get_name() == name]
    return task


async def test_readyz_is_503_when_an_engine_worker_is_killed(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process's registry, as `opaska run` shares it between its parts; fresh, so loops that
    # earlier in-process tests ran and stopped are not in it.
    process = health.Health()
    monkeypatch.setattr(health, "PROCESS", process)
    engine = asyncio.create_task(run_engine(Settings(), sessions, clock, audit=False), name="engine")
    try:
        async with _console(sessions, clock, process) as client:
            assert (await client.get("/healthz")).json()["status"] == "ok"
            ready = await _until_ready(client)
            assert ready.json()["checks"]["worker escalation"] == "ok"

            escalation = _task("escalation")
            escalation.cancel()
            # Wait for the cancellation to land (a busy machine may take its time), not a fixed pause.
            await asyncio.wait({escalation}, timeout=10)
            assert escalation.done()
            # The engine's TaskGroup carries on without it: only /readyz can tell.
            assert not engine.done()
            answer = await client.get("/readyz")
            assert answer.status_code == 503
            assert answer.json()["checks"]["worker escalation"] == "stopped (cancelled)"
            assert answer.json()["checks"]["worker outbox"] == "ok"
    finally:
        engine.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await engine


async def test_readyz_is_503_when_a_console_worker_dies(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with _console(sessions, clock, health.Health()) as client:
        await _until_ready(client)
        _task("console-presence").cancel()
        await asyncio.sleep(0.05)
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["checks"]["worker console-presence"] == "stopped (cancelled)"


async def test_auditor_raises_the_alarm_when_escalation_is_stuck(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """No engine runs: the escalation row falls due and stays due. After a minute over, the
    auditor logs an error, the gauge counts the row and /readyz names it."""
    seeded = await seed_resident_with_band(sessions, clock)
    await press(sessions, seeded, AlarmKind.SOS, at=clock.now())
    auditor = EscalationAuditor(sessions, clock)
    assert await auditor.audit() == "ok"
    clock.advance(300)
    verdict = await auditor.audit()
    assert verdict.startswith("stuck: 1 row(s) overdue")
    assert OVERDUE_ROWS._value.get() == 1
    assert "escalation stuck" in caplog.text
    async with sessions() as session:
        state = await session.get(ServiceState, AUDITOR_STATE)
    assert state is not None
    assert state.connected_since is not None  # stuck since the row fell due

    async with _console(sessions, clock, health.Health()) as client:
        await asyncio.sleep(0.1)  # the console's own auditor's first round
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["escalation"].startswith("stuck: 1 row(s) overdue")


async def test_gateway_and_engine_processes_serve_readyz(database_url: str, tmp_path: Path) -> None:
    """A gateway with its broker gone says so on /readyz, and is ready again once it is back."""
    from tests.support.mosquitto import MosquittoProcess

    broker = MosquittoProcess(tmp_path / "mosquitto")
    broker.start()
    gateway_port, engine_port = free_port(), free_port()
    env = opaska_env(
        OPASKA_DATABASE_URL=database_url,
        OPASKA_MQTT_URL=broker.service_url,
        OPASKA_MQTT_SERVICE_USERNAME=broker.service_username,
        OPASKA_METRICS_GATEWAY_PORT=str(gateway_port),
        OPASKA_METRICS_ENGINE_PORT=str(engine_port),
    )
    try:
        with (
            opaska_process(["gateway"], env, tmp_path / "gateway.log") as gateway,
            opaska_process(["engine"], env, tmp_path / "engine.log") as engine,
        ):
            await wait_healthy(f"http://127.0.0.1:{gateway_port}", gateway, tmp_path / "gateway.log")
            await wait_healthy(f"http://127.0.0.1:{engine_port}", engine, tmp_path / "engine.log")
            async with httpx.AsyncClient() as client:
                checks = (await client.get(f"http://127.0.0.1:{engine_port}/readyz")).json()["checks"]
                assert {"database", "escalation", "worker escalation", "worker outbox"} <= set(checks)
                assert "opaska_band_messages" in (await client.get(f"http://127.0.0.1:{gateway_port}/metrics")).text
                broker.kill()
                await asyncio.sleep(1.0)
                answer = await client.get(f"http://127.0.0.1:{gateway_port}/readyz")
                assert answer.status_code == 503
                assert answer.json()["checks"]["broker"].startswith("unreachable")
                assert answer.json()["checks"]["worker gateway-alarms"] == "ok"
            broker.start()
            await wait_healthy(f"http://127.0.0.1:{gateway_port}", gateway, tmp_path / "gateway.log", timeout=60)
    finally:
        broker.stop()
