"""A missing or unreachable dependency at start: one clear line naming it, and a non-zero exit."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from simulator.lab.processes import opaska_env
from tests.support.processes import last_line, opaska_run_to_exit
from tests.support.require import free_port, free_port_pair


def _opaska(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    # In English: the kernel's refusals (broker, ports) are worded in English whatever the command
    # line's language; the Polish default is tested in tests/test_cli_language.py.
    return opaska_run_to_exit(["--lang", "en", *args], opaska_env(**env))


def test_unreachable_database(tmp_path: Path) -> None:
    port = free_port()
    result = _opaska(["migrate"], OPASKA_DATABASE_URL=f"postgresql+asyncpg://opaska:secret-pw@127.0.0.1:{port}/opaska")
    assert result.returncode == 1
    line = last_line(result)
    assert line.startswith("opaska: cannot reach the database postgresql+asyncpg://opaska:***@127.0.0.1:")
    assert "OPASKA_DATABASE_URL" in line
    assert "secret-pw" not in result.stderr


def test_unreachable_broker(tmp_path: Path) -> None:
    result = _opaska(
        ["run"],
        OPASKA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/o.db",
        OPASKA_MQTT_URL=f"mqtt://127.0.0.1:{free_port()}",
        OPASKA_CONSOLE_PORT=str(free_port()),
    )
    assert result.returncode == 1
    line = last_line(result)
    assert "cannot reach MQTT broker mqtt://127.0.0.1:" in line
    assert "OPASKA_MQTT_URL" in line


def test_gateway_alone_refuses_unmigrated_database(tmp_path: Path) -> None:
    result = _opaska(["gateway"], OPASKA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    assert result.returncode == 1
    assert "is not migrated" in last_line(result)
    assert "opaska migrate" in last_line(result)


@pytest.mark.parametrize(
    ("what", "variable"), [("broker", "OPASKA_MQTT_EMBEDDED_PORT"), ("console", "OPASKA_CONSOLE_PORT")]
)
def test_taken_port_is_named_with_the_way_out(tmp_path: Path, what: str, variable: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = {"OPASKA_MQTT_EMBEDDED_PORT": str(free_port_pair()), "OPASKA_CONSOLE_PORT": str(free_port())}
        ports[variable] = str(taken)
        result = _opaska(["run"], OPASKA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/o.db", **ports)
    assert result.returncode == 1
    line = last_line(result)
    assert f"127.0.0.1:{taken} is already taken" in line
    assert variable in line
    if what == "broker":
        assert "must require passwords: OPASKA_MQTT_URL=mqtt://opaska-service:PASSWORD@127.0.0.1:" in line
