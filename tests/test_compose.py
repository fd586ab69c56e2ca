"""docker-compose.yml is valid: Debian's docker-compose parses it without a Docker engine."""

from __future__ import annotations

import subprocess

import yaml

from tests.support.processes import REPO
from tests.support.require import need_program


def test_compose_file_parses_and_wires_the_parts() -> None:
    binary = need_program("docker-compose")
    result = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config"],
        env={"OPASKA_DB_PASSWORD": "example", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert {"mosquitto", "postgres", "migrate", "gateway", "engine", "console"} <= set(services)
    assert [c for c in services["gateway"]["command"]] == ["opaska", "gateway"]
    assert services["gateway"]["environment"]["OPASKA_MQTT_URL"] == "mqtt://mosquitto:1883"
    mount = next(v for v in services["mosquitto"]["volumes"] if "mosquitto.conf" in str(v))
    assert "config/mosquitto.conf" in str(mount)


def test_compose_refuses_to_start_without_a_database_password() -> None:
    binary = need_program("docker-compose")
    result = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "OPASKA_DB_PASSWORD" in result.stderr
