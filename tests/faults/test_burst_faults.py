"""1,000 SOS from 1,000 bands while the gateway is SIGKILLed twice, or while the broker restarts:
every alarm exists exactly once, and every band and the gateway reconnect by themselves."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway.topics import TopicScheme
from tests.faults.burst import platform

pytestmark = [pytest.mark.asyncio, pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(420)]


async def test_gateway_sigkilled_twice_mid_burst(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    async with platform(sessions, clock, database_url, topics, client_prefix, tmp_path) as fault:
        kills = []
        with fault.process("gateway") as first:
            await fault.ready("gateway", first)
            fault.press_all()
            await fault.until_stored(fault.count // 4)
            first.kill()
            first.wait(10)
            kills.append(await fault.alarms_stored())
        with fault.process("gateway") as second:
            await fault.ready("gateway", second)
            await fault.until_stored(fault.count // 2)
            second.kill()
            second.wait(10)
            kills.append(await fault.alarms_stored())
        with fault.process("gateway") as third:
            await fault.ready("gateway", third)
            verdict = await fault.verdict()
        verdict.extra = {"alarms_stored_at_kills": kills}
        verdict.record("gateway_sigkill")
    assert kills[0] < fault.count, f"the first kill missed the burst: {kills}"
    assert kills[1] < fault.count, f"the second kill missed the burst: {kills}"
    verdict.assert_exactly_once()


async def test_broker_restarted_mid_burst(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    async with platform(sessions, clock, database_url, topics, client_prefix, tmp_path) as fault:
        assert fault.fleet is not None
        with fault.process("gateway") as gateway:
            await fault.ready("gateway", gateway)
            fault.press_all()
            await fault.until_stored(fault.count // 3)
            fault.broker.stop()  # a restart: SIGTERM, Mosquitto saves its persistence file
            stored_at_restart = await fault.alarms_stored()
            async with httpx.AsyncClient() as client:
                for _ in range(30):  # the gateway notices the lost connection within a moment
                    down = await client.get(f"http://127.0.0.1:{fault.gateway_port}/readyz")
                    if down.status_code == 503:
                        break
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            fault.broker.start()
            # Nobody tells the gateway or the bands: they reconnect on their own.
            await fault.ready("gateway", gateway)
            verdict = await fault.verdict()
            connected = fault.fleet.connected
        verdict.extra = {"alarms_stored_at_restart": stored_at_restart, "bands_connected_after": connected}
        verdict.record("broker_restart")
    assert stored_at_restart < fault.count, "the restart missed the burst"
    assert down.status_code == 503
    assert down.json()["checks"]["broker"].startswith("unreachable")
    assert connected == fault.count
    assert fault.fleet.stats.losses >= fault.count
    verdict.assert_exactly_once()
