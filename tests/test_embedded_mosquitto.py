"""`opaska run` with no broker configured runs Mosquitto as its own child, and keeps it running.

opaska is a real process, its Mosquitto a real one (the machine's mosquitto program with
config/mosquitto.conf), the band a real MQTT client logging in with its registered secret.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from core.clock import FakeClock
from core.mqtt.client import MqttError
from core.mqtt.endpoint import parse_mqtt_url
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy, VirtualBand
from simulator.lab.processes import opaska_env, wait_healthy
from tests.support.processes import last_line, opaska_process, opaska_run_to_exit, platform_process_setup
from tests.support.require import free_port, free_port_pair, need_program
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.e2e

_STARTED = re.compile(r"embedded MQTT broker: Mosquitto \(.*, pid (\d+)\)")
_RESTARTED = re.compile(r"the embedded Mosquitto is running again \(pid (\d+)\)")


@pytest.fixture
def band_port() -> int:
    return free_port_pair()


def _env(
    database_url: str, topics: TopicScheme, client_prefix: str, port: int, broker: str, state_dir: Path
) -> tuple[dict[str, str], str]:
    setup = platform_process_setup(database_url, topics.root, client_prefix)
    env = dict(setup.env)
    # This test is about the embedded broker, whatever test broker the machine offers.
    env.pop("OPASKA_MQTT_URL", None)
    env.pop("OPASKA_MQTT_ALLOW_INSECURE_BROKER", None)
    env.update(
        OPASKA_MQTT_EMBEDDED_PORT=str(port),
        OPASKA_MQTT_EMBEDDED_BROKER=broker,
        OPASKA_MQTT_EMBEDDED_STATE_DIR=str(state_dir),
    )
    return env, setup.console_url


async def _log_match(log_path: Path, pattern: re.Pattern[str], after: int = 0, timeout: float = 20) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.search(log_path.read_text(errors="replace"), after)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {pattern.pattern!r} in the log:\n{log_path.read_text()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead, only not yet reaped.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(") ", 1)[1][0] != "Z"


def _mosquittos_with(config_dir: Path) -> list[int]:
    """Pids of mosquitto processes started with a config in this directory."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "mosquitto" in cmdline and str(config_dir) in cmdline and _alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


async def _sos_reaches_db(
    sessions: async_sessionmaker[AsyncSession], band: SeededBand, topics: TopicScheme, port: int, kind: str
) -> None:
    """The band logs in with its secret on the bands' port; its alarm is committed (the platform's
    `alarm_received` comes only after the commit) and is in the database."""
    virtual = VirtualBand(
        parse_mqtt_url(f"mqtt://127.0.0.1:{port}"),
        topics,
        band.serial,
        password=band.secret,
        protocol="3.1.1",
        repeat=RepeatPolicy(1, 2),
    )
    async with asyncio.timeout(20):
        while True:
            try:
                await virtual.start()
                break
            except MqttError:  # the broker may still be coming back: again, until the timeout
                await asyncio.sleep(0.2)
    try:
        acknowledged = await virtual.press(kind, timeout=20)
    finally:
        await virtual.stop()
    async with sessions() as session:
        alarm = (await session.execute(select(Alarm).where(Alarm.id == acknowledged["alarm_id"]))).scalar_one()
    assert (alarm.band_id, alarm.kind) == (band.band_id, kind)


@pytest.mark.asyncio
async def test_opaska_run_supervises_its_mosquitto(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    band_port: int,
    tmp_path: Path,
) -> None:
    need_program("mosquitto")
    band = await seed_resident_with_band(sessions, clock)
    env, console = _env(database_url, topics, client_prefix, band_port, "mosquitto", tmp_path)
    log_path = tmp_path / "opaska-run.log"
    workdir = tmp_path / f"mosquitto-{band_port}"
    with opaska_process(["run"], env, log_path) as process:
        await wait_healthy(console, process, log_path)
        first = await _log_match(log_path, _STARTED)
        pid = int(first.group(1))
        assert _mosquittos_with(workdir) == [pid]
        await _sos_reaches_db(sessions, band, topics, band_port, "sos")

        # A band registered now (a technician at work) gets in within a second or two, as on amqtt.
        newcomer = await seed_resident_with_band(sessions, clock, first_name="Jan")
        registered = time.monotonic()
        await _sos_reaches_db(sessions, newcomer, topics, band_port, "sos")
        assert time.monotonic() - registered < 3

        # A crash: opaska says so, starts it again, and the gateway finds its way back by itself.
        os.kill(pid, signal.SIGKILL)
        again = await _log_match(log_path, _RESTARTED)
        said = rf"ERROR .*the embedded Mosquitto \(pid {pid}\) was killed by SIGKILL; restarting it"
        assert re.search(said, log_path.read_text())
        pid = int(again.group(1))
        await _sos_reaches_db(sessions, band, topics, band_port, "fall")

        # Stopped in an orderly way, it saves its persistence file in var/: started again, it
        # still has the gateway's persistent session.
        before = len(log_path.read_text(errors="replace"))
        os.kill(pid, signal.SIGTERM)
        pid = int((await _log_match(log_path, _RESTARTED, after=before)).group(1))
        await _log_match(log_path, re.compile(r"gateway reconnected to .*\(session kept: True\)"), after=before)
        assert (workdir / "mosquitto.db").exists()

        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    assert not _alive(pid)
    assert _mosquittos_with(workdir) == []


@pytest.mark.asyncio
async def test_mosquitto_ends_with_a_killed_opaska(
    database_url: str, topics: TopicScheme, client_prefix: str, band_port: int, tmp_path: Path
) -> None:
    """Even when opaska cannot stop it (SIGKILL), no orphaned Mosquitto keeps the port."""
    need_program("mosquitto")
    env, console = _env(database_url, topics, client_prefix, band_port, "auto", tmp_path)
    log_path = tmp_path / "opaska-run.log"
    with opaska_process(["run"], env, log_path) as process:
        await wait_healthy(console, process, log_path)
        pid = int((await _log_match(log_path, _STARTED)).group(1))
        process.kill()
        process.wait(10)
        async with asyncio.timeout(10):
            while _alive(pid):
                await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_amqtt_says_it_is_for_demos(
    database_url: str, topics: TopicScheme, client_prefix: str, band_port: int, tmp_path: Path
) -> None:
    env, console = _env(database_url, topics, client_prefix, band_port, "amqtt", tmp_path)
    log_path = tmp_path / "opaska-run.log"
    with opaska_process(["run"], env, log_path) as process:
        await wait_healthy(console, process, log_path)
    text = log_path.read_text()
    warning = next(line for line in text.splitlines() if "embedded MQTT broker is amqtt" in line)
    assert "WARNING" in warning
    assert "demos and small trials" in warning
    assert "apt install mosquitto" in warning
    assert "make system-deps" in warning
    assert "embedded MQTT broker (amqtt) listening" in text
    assert "embedded MQTT broker: Mosquitto" not in text


def test_a_wrong_broker_choice_names_its_setting(tmp_path: Path) -> None:
    result = opaska_run_to_exit(
        ["run"],
        opaska_env(
            OPASKA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/o.db",
            OPASKA_CONSOLE_PORT=str(free_port()),
            OPASKA_MQTT_EMBEDDED_BROKER="rabbitmq",
        ),
    )
    assert result.returncode == 2  # a bad setting, as opaska exits for any
    assert "OPASKA_MQTT_EMBEDDED_BROKER" in last_line(result)
    assert "'auto', 'mosquitto' or 'amqtt'" in last_line(result)
