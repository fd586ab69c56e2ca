"""docker-compose.yml is valid: Debian's docker-compose parses it without a Docker engine."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from simulator.lab.processes import REPO
from tests.support.require import need_program


def test_compose_file_parses_and_wires_the_parts() -> None:
    binary = need_program("docker-compose")
    result = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config"],
        env={"OPASKA_DB_PASSWORD": "example", "OPASKA_MQTT_SERVICE_PASSWORD": "service-pw", "PATH": "/usr/bin:/bin"},
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
    gateway = services["gateway"]
    # opaska's own services use Mosquitto's platform listener (their client ids are kept there)...
    for name, service in services.items():
        if "OPASKA_MQTT_URL" in service.get("environment", {}):
            assert service["environment"]["OPASKA_MQTT_URL"] == "mqtt://opaska-service:service-pw@mosquitto:1884", name
    assert "OPASKA_MQTT_URL" in gateway["environment"]
    # ...which is never published: only the band listener, where client ids are replaced by usernames.
    published = [_port(p) for p in services["mosquitto"]["ports"]]
    assert published == [(1883, 1883)]
    config = (REPO / "config" / "mosquitto.conf").read_text().splitlines()
    band_listener = config.index("listener 1883")
    service_listener = config.index("listener 1884")
    assert config[band_listener + 1] == "use_username_as_clientid true"
    assert band_listener < service_listener
    assert [line for line in config if line.startswith("use_username_as_clientid")] == ["use_username_as_clientid true"]
    # The console's alarm canary is a band: it logs in on the band listener, not the platform's.
    assert services["console"]["environment"]["OPASKA_CANARY_BAND_URL"] == "mqtt://mosquitto:1883"
    mount = next(v for v in services["mosquitto"]["volumes"] if "mosquitto.conf" in str(v))
    assert "config/mosquitto.conf" in str(mount)


def _port(port: Any) -> tuple[int, int]:
    """(published, target), from either form docker-compose prints."""
    if isinstance(port, dict):
        return int(port["published"]), int(port["target"])
    published, target = str(port).split("/")[0].split(":")[-2:]
    return int(published), int(target)


def _volume(service: dict[str, Any], name: str) -> str:
    for volume in service["volumes"]:
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        if source == name:
            return str(target)
    raise AssertionError(f"no volume {name} in {service['volumes']}")


def test_compose_shares_the_mosquitto_auth_files_between_opaska_and_mosquitto() -> None:
    binary = need_program("docker-compose")
    result = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config"],
        env={"OPASKA_DB_PASSWORD": "example", "OPASKA_MQTT_SERVICE_PASSWORD": "service-pw", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    gateway, files, mosquitto = services["gateway"], services["mosquitto-files"], services["mosquitto"]
    auth_dir = gateway["environment"]["OPASKA_MQTT_MOSQUITTO_AUTH_DIR"]
    assert _volume(gateway, "mosquitto-auth") == auth_dir
    assert files["command"] == ["opaska", "broker", "mosquitto-files", "--dir", auth_dir]
    assert _volume(files, "mosquitto-auth") == auth_dir
    # Mosquitto reads the copies its loop makes where config/mosquitto.conf looks for them.
    shared = _volume(mosquitto, "mosquitto-auth")
    script = mosquitto["command"][-1]
    assert f"{shared}/passwords" in script
    assert f"{shared}/service-passwords" in script
    assert "kill -HUP" in script
    config = (REPO / "config" / "mosquitto.conf").read_text()
    assert "password_file /mosquitto/auth/passwords" in config
    # The platform listener admits the service account alone: no band can log in there.
    assert "password_file /mosquitto/auth/service-passwords" in config
    assert "acl_file /mosquitto/auth/acl" in config
    assert "/mosquitto/auth/$f" in script.replace("$$", "$")
    assert mosquitto["depends_on"]["mosquitto-files"]["condition"] == "service_completed_successfully"


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


def test_compose_refuses_to_start_without_a_service_account_password() -> None:
    binary = need_program("docker-compose")
    result = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config"],
        env={"OPASKA_DB_PASSWORD": "example", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "OPASKA_MQTT_SERVICE_PASSWORD" in result.stderr
