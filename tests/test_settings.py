import subprocess
import sys

import pytest

from core.settings import SettingsError, load_settings


def test_defaults_come_from_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPASKA_MQTT_URL", "OPASKA_DATABASE_URL", "OPASKA_CONSOLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.mqtt.embedded
    assert settings.mqtt.embedded_port == 1883
    assert settings.mqtt.topic_root == "opaska/v1"
    assert settings.database.url == "sqlite+aiosqlite:///./var/opaska.db"
    assert settings.console.port == 8000


def test_environment_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPASKA_MQTT_URL", "mqtt://broker.local:1884")
    monkeypatch.setenv("OPASKA_MQTT_TOPIC_ROOT", "centre/v1")
    monkeypatch.setenv("OPASKA_CONSOLE_PORT", "9000")
    settings = load_settings()
    assert settings.mqtt.url == "mqtt://broker.local:1884"
    assert not settings.mqtt.embedded
    assert settings.mqtt.effective_protocol == "5"
    assert settings.mqtt.topic_root == "centre/v1"
    assert settings.console.port == 9000


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("OPASKA_CONSOLE_PORT", "eighty", "console.port (OPASKA_CONSOLE_PORT"),
        ("OPASKA_MQTT_URL", "http://x", "mqtt.url (OPASKA_MQTT_URL"),
        ("OPASKA_DATABASE_URL", "mysql://x", "database.url (OPASKA_DATABASE_URL"),
        ("OPASKA_MQTT_TOPIC_ROOT", "a/#", "mqtt.topic_root"),
    ],
)
def test_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match="bad setting") as caught:
        load_settings()
    assert named in str(caught.value)


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("OPASKA_CONFIG_FILE", "/nonexistent/opaska.toml")
    with pytest.raises(SettingsError, match="OPASKA_CONFIG_FILE: no such file"):
        load_settings()


def test_cli_exits_nonzero_with_one_line_on_bad_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opaska.cli", "migrate"],
        env={"OPASKA_CONSOLE_PORT": "99999", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "console.port" in lines[0]
    assert "OPASKA_CONSOLE_PORT" in lines[0]
