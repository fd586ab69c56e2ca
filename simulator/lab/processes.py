"""`opaska` as a process of its own, for a lab: its environment, and waiting until it is ready."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent.parent


def opaska_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any OPASKA_ setting of its own, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPASKA_")}
    # A lab's embedded brokers keep their files out of the checkout's var/ (one directory per port).
    env["OPASKA_MQTT_EMBEDDED_STATE_DIR"] = str(Path(tempfile.gettempdir()) / "opaska-lab-brokers")
    # No alarm canary unless a lab asks for it: its alarm every minute is no lab's subject, and a lab
    # that stops a part on purpose would have it reported lost.
    env["OPASKA_CANARY_ENABLED"] = "false"
    env.update(overrides)
    return env


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
