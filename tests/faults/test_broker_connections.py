"""The embedded broker closes what never proves itself: connections that close before CONNECT, and
connections that stay silent (issue 16). Measured on `opaska run` as a process, by its own open
file descriptors: 1,000 connect-and-close and 1,000 idle sockets, and the count must be back at the
baseline within the CONNECT deadline. Before the fix 966 of 1,000 closed sockets were still open on
the broker side three minutes later, and idle ones were never closed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from simulator.lab.processes import wait_healthy
from tests.support.processes import opaska_process, platform_process_setup
from tests.support.require import free_port_pair

pytestmark = [pytest.mark.asyncio, pytest.mark.faults]

SOCKETS = 1000
CONNECT_TIMEOUT_S = 3
# Descriptors the process may open or close on its own meanwhile (database, log, HTTP keep-alive).
SLACK = 25


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def settle(pid: int, *, at_most: int, within_s: float) -> tuple[int, float]:
    """Wait until the process holds at most `at_most` descriptors; returns the count and the time it took."""
    started = time.monotonic()
    count = open_descriptors(pid)
    while count > at_most and time.monotonic() - started < within_s:
        await asyncio.sleep(0.1)
        count = open_descriptors(pid)
    return count, time.monotonic() - started


async def test_closed_and_idle_connections_are_let_go(
    database_url: str, tmp_path: Path, client_prefix: str, artifacts: Path
) -> None:
    setup = platform_process_setup(database_url, "fd/opaska/v1", client_prefix)
    env = {key: value for key, value in setup.env.items() if key != "OPASKA_MQTT_URL"}
    port = free_port_pair()
    env |= {
        # The connect gate under test is the amqtt broker's (embedded_connect_timeout_s); with
        # Mosquitto installed `opaska run` would start that instead, in a process of its own.
        "OPASKA_MQTT_EMBEDDED_BROKER": "amqtt",
        "OPASKA_MQTT_EMBEDDED_PORT": str(port),
        "OPASKA_MQTT_EMBEDDED_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
    }
    log_path = tmp_path / "opaska.log"
    with opaska_process(["run"], env, log_path) as process:
        await wait_healthy(setup.console_url, process, log_path)
        await asyncio.sleep(1)
        baseline = open_descriptors(process.pid)

        for _ in range(SOCKETS):
            with socket.create_connection(("127.0.0.1", port)):
                pass
        after_close, took_close = await settle(process.pid, at_most=baseline + SLACK, within_s=CONNECT_TIMEOUT_S + 5)

        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(SOCKETS)]
        try:
            await asyncio.sleep(0.5)
            peak = open_descriptors(process.pid)
            after_idle, took_idle = await settle(process.pid, at_most=baseline + SLACK, within_s=CONNECT_TIMEOUT_S + 5)
            # The broker hung up on every idle socket: each reads end-of-file.
            for sock in idle:
                sock.settimeout(5)
                assert sock.recv(16) == b""
        finally:
            for sock in idle:
                sock.close()

        async with httpx.AsyncClient(base_url=setup.console_url) as http:
            ready = await http.get("/readyz")
        log = log_path.read_text()

    summary = (
        f"baseline {baseline} fds; {SOCKETS} connect-and-close: {after_close} after {took_close:.1f} s; "
        f"{SOCKETS} idle: peak {peak}, {after_idle} after {took_idle:.1f} s (CONNECT deadline {CONNECT_TIMEOUT_S} s)"
    )
    (artifacts / "broker-connections.txt").write_text(summary + "\n")
    print(summary)
    assert after_close <= baseline + SLACK, summary
    assert after_idle <= baseline + SLACK, summary
    assert ready.status_code == 200, ready.text
    # Refusals are logged throttled: a line per reason per minute, not one per socket.
    refusal_lines = [line for line in log.splitlines() if "MQTT connect refused" in line]
    assert 1 <= len(refusal_lines) <= 6, refusal_lines
