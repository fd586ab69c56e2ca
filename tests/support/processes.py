"""opaska as real subprocesses: the way users and the other parts of the platform see it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.require import free_port

REPO = Path(__file__).resolve().parent.parent.parent


def opaska_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPASKA_")}
    env.update(overrides)
    return env


@dataclass(frozen=True)
class PlatformProcessSetup:
    """What `opaska run` as a subprocess needs: its environment, the console's URL and the broker
    the bands should use (the external test broker, or the embedded one on a free port)."""

    env: dict[str, str]
    console_url: str
    broker_url: str


def platform_process_setup(database_url: str, topic_root: str, client_prefix: str) -> PlatformProcessSetup:
    console_port = free_port()
    env = opaska_env(
        OPASKA_DATABASE_URL=database_url,
        OPASKA_CONSOLE_PORT=str(console_port),
        OPASKA_MQTT_TOPIC_ROOT=topic_root,
        OPASKA_MQTT_CLIENT_ID_PREFIX=client_prefix,
        OPASKA_MQTT_SESSION_EXPIRY_S="60",
        OPASKA_METRICS_GATEWAY_PORT="0",
        OPASKA_METRICS_ENGINE_PORT="0",
    )
    test_broker = os.environ.get("OPASKA_TEST_MQTT_URL", "")
    if test_broker:
        env["OPASKA_MQTT_URL"] = test_broker
        broker_url = test_broker
    else:
        broker_port = free_port()
        env["OPASKA_MQTT_EMBEDDED_PORT"] = str(broker_port)
        broker_url = f"mqtt://127.0.0.1:{broker_port}"
    return PlatformProcessSetup(env, f"http://127.0.0.1:{console_port}", broker_url)


@contextlib.contextmanager
def opaska_process(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "opaska.cli", *args], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"opaska exited with {process.returncode}:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base_url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"opaska not ready within {timeout} s:\n{log_path.read_text()}")


async def run_opaska_command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One `opaska …` command against the test's database, as a technician runs it."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "opaska.cli", *args],
        env=opaska_env(OPASKA_DATABASE_URL=database_url),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
