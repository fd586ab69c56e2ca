"""PostgreSQL unreachable mid-burst, through a TCP proxy the test blackholes (the server itself keeps
running): nothing is acknowledged that is not committed, every alarm arrives once the database is
back, and the console says plainly meanwhile that the database is unreachable.

OPASKA_FAULT_DB_OUTAGE_S sets the outage (30 s in .ci/run; shorter while developing).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway.topics import TopicScheme
from simulator.fleet import FleetBand
from tests.faults.burst import Platform, platform
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.asyncio, pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(420)]

OUTAGE_S = float(os.environ.get("OPASKA_FAULT_DB_OUTAGE_S", "30"))
# A commit whose answer was already on its way when the cable was pulled may still be acked.
IN_FLIGHT_GRACE_S = 1.0


async def _console_during_outage(fault: Platform, until: float) -> dict[str, Any]:
    """What the console answered while the database was away: /readyz, the API, a page."""
    seen: dict[str, Any] = {"readyz": set(), "gateway": set(), "api": set(), "page": set(), "database": ""}
    base = f"http://127.0.0.1:{fault.console_port}"
    async with httpx.AsyncClient(timeout=10) as client:
        unready = 0
        while time.monotonic() < until - 3:
            ready = await client.get(f"{base}/readyz")
            seen["readyz"].add(ready.status_code)
            gateway = await client.get(f"http://127.0.0.1:{fault.gateway_port}/readyz")
            seen["gateway"].add((gateway.status_code, gateway.json()["checks"]["database"][:11]))
            if ready.status_code == 503:
                seen["database"] = ready.json()["checks"]["database"]
                unready += 1
            if unready < 3:
                # The console's own watch needs a probe or two (2 s each) to call the database gone;
                # a page asked before that waits for the database like any client would.
                await asyncio.sleep(1.0)
                continue
            api = await client.get(f"{base}/api/alarms")
            seen["api"].add((api.status_code, api.json().get("database", "")[:11]))
            page = await client.get(f"{base}/", headers={"accept": "text/html"})
            seen["page"].add((page.status_code, "Baza danych jest nieosiągalna" in page.text))
            await asyncio.sleep(1.0)
    return seen


async def _database_check_after(fault: Platform, timeout: float = 30) -> str:
    """The console's database check once the cable is back. (Not all of /readyz: no engine runs
    here, so the escalation auditor rightly reports the burst's escalations as stuck.)"""
    async with httpx.AsyncClient(timeout=10) as client, asyncio.timeout(timeout):
        while True:
            answer = await client.get(f"http://127.0.0.1:{fault.console_port}/readyz")
            if (database := answer.json()["checks"]["database"]) == "ok":
                return str(database)
            await asyncio.sleep(0.5)


# A database outage needs a database behind a network: SQLite has none (.ci/run runs it on PostgreSQL).
@pytest.mark.postgresql_only
async def test_database_blackholed_mid_burst(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    acked_at: list[float] = []
    try:
        async with platform(sessions, clock, proxied, topics, client_prefix, tmp_path) as fault:
            assert fault.fleet is not None

            def downlink(_band: FleetBand, kind: str, _payload: dict[str, Any]) -> None:
                if kind == "alarm_received":
                    acked_at.append(time.monotonic())

            fault.fleet.on_downlink = downlink
            with fault.process("gateway") as gateway, fault.process("console") as console:
                await fault.ready("gateway", gateway)
                await fault.ready("console", console)
                fault.press_all()
                await fault.until_stored(fault.count // 3)
                proxy.blackhole()
                cut = time.monotonic()
                stored_at_cut = await fault.alarms_stored()  # straight to the server, not through the proxy
                seen = await _console_during_outage(fault, cut + OUTAGE_S)
                await asyncio.sleep(max(0.0, cut + OUTAGE_S - time.monotonic()))
                stored_before_restore = await fault.alarms_stored()
                proxy.restore()
                restored = time.monotonic()
                verdict = await fault.verdict()
                back = await _database_check_after(fault)
        acked_during = sum(1 for t in acked_at if cut + IN_FLIGHT_GRACE_S < t < restored)
        verdict.extra = {
            "outage_s": OUTAGE_S,
            "alarms_stored_at_cut": stored_at_cut,
            "alarms_stored_during_outage": stored_before_restore - stored_at_cut,
            "acked_during_outage": acked_during,
            "console_readyz": sorted(seen["readyz"]),
            "gateway_readyz": sorted(seen["gateway"]),
            "console_database_check": seen["database"],
            "console_api": sorted(seen["api"]),
            "console_page": sorted(seen["page"]),
        }
        verdict.record("database_blackhole")
    finally:
        await proxy.stop()
    assert stored_at_cut < fault.count, "the outage missed the burst"
    # Nothing reached the database through the cut, so nothing may have been acknowledged.
    assert stored_before_restore - stored_at_cut <= fault.count // 20, "commits through a blackholed proxy?"
    assert acked_during == 0, f"{acked_during} alarm_received sent while the database was unreachable"
    assert seen["readyz"] == {503}
    assert seen["gateway"] == {(503, "unreachable")}
    assert seen["database"].startswith("unreachable")
    assert seen["api"] == {(503, "unreachable")}
    assert seen["page"] == {(503, True)}
    assert back == "ok"
    assert fault.fleet.stats.repeats > 0  # the bands kept repeating through the outage
    verdict.assert_exactly_once()
