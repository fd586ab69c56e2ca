"""opaska will not run its alarm path over a broker that anyone can use without a password (issue 16).

A real Mosquitto admitting anonymous clients is refused at start with a message that names the
broker setting to change and the lab-only way past it; with that way (--allow-insecure-broker)
it starts and says loudly why it should not have. The probe itself is checked against both kinds.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from core.mqtt.anonymous_probe import admits_anonymous
from core.mqtt.endpoint import MqttEndpoint
from simulator.lab.processes import opaska_env, wait_healthy
from tests.support.mosquitto import MosquittoProcess
from tests.support.processes import last_line, opaska_process, opaska_run_to_exit
from tests.support.require import free_port, need_program


@contextlib.contextmanager
def open_mosquitto(workdir: Path) -> Iterator[int]:
    """A Mosquitto that lets anyone in, as a careless installation would."""
    binary = need_program("mosquitto")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "open.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        MosquittoProcess.wait_listening(process, [port])
        yield port
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.asyncio
async def test_the_probe_tells_an_open_broker_from_a_closed_one(tmp_path: Path) -> None:
    with open_mosquitto(tmp_path / "open") as port:
        assert await admits_anonymous(MqttEndpoint("127.0.0.1", port), protocol="5")
    closed = MosquittoProcess(tmp_path / "closed")
    closed.start()
    try:
        for endpoint in (closed.service_endpoint, MqttEndpoint("127.0.0.1", closed.port)):
            assert not await admits_anonymous(replace(endpoint, username=None, password=None), protocol="5")
    finally:
        closed.stop()


def test_an_open_broker_is_refused_at_start(tmp_path: Path) -> None:
    with open_mosquitto(tmp_path / "open") as port:
        result = opaska_run_to_exit(
            ["run"],
            opaska_env(
                OPASKA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/o.db",
                OPASKA_MQTT_URL=f"mqtt://opaska-service:pw@127.0.0.1:{port}",
                OPASKA_CONSOLE_PORT=str(free_port()),
            ),
        )
    assert result.returncode == 1
    line = last_line(result)
    assert f"the MQTT broker at 127.0.0.1:{port} accepts clients without a username and password" in line
    assert "allow_anonymous false" in line
    assert "--allow-insecure-broker" in line
    assert "pw@" not in result.stderr


@pytest.mark.asyncio
async def test_a_lab_may_say_it_knows(tmp_path: Path) -> None:
    console_port = free_port()
    with open_mosquitto(tmp_path / "open") as port:
        env = opaska_env(
            OPASKA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/o.db",
            OPASKA_MQTT_URL=f"mqtt://127.0.0.1:{port}",
            OPASKA_CONSOLE_PORT=str(console_port),
            OPASKA_METRICS_GATEWAY_PORT="0",
            OPASKA_METRICS_ENGINE_PORT="0",
        )
        log_path = tmp_path / "opaska.log"
        with opaska_process(["run", "--allow-insecure-broker"], env, log_path) as process:
            await wait_healthy(f"http://127.0.0.1:{console_port}", process, log_path)
        log = log_path.read_text()
    assert f"SECURITY: the MQTT broker at 127.0.0.1:{port} accepts clients without a password" in log
