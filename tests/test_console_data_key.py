"""The console's data key: configured, or kept in var/ by `opaska run`; a bad one stops start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from console.data_key import load_data_key
from core.settings import ConsoleSettings, SettingsError, load_settings


def test_the_configured_key_wins(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    path = tmp_path / "console-data-key"
    fernet = load_data_key(ConsoleSettings(data_key=SecretStr(key)), path=path, create=True)
    assert fernet is not None
    assert Fernet(key.encode()).decrypt(fernet.encrypt(b"1234")) == b"1234"
    assert not path.exists()


def test_opaska_run_keeps_one_key_in_var(tmp_path: Path) -> None:
    path = tmp_path / "var" / "console-data-key"
    assert load_data_key(ConsoleSettings(), path=path, create=False) is None
    first = load_data_key(ConsoleSettings(), path=path, create=True)
    assert first is not None
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_data_key(ConsoleSettings(), path=path, create=False)
    assert again is not None
    assert again.decrypt(first.encrypt(b"4711")) == b"4711"  # the same key at the next start


def test_a_bad_key_names_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPASKA_CONSOLE_DATA_KEY", "not-a-key")
    with pytest.raises(SettingsError, match=r"console.data_key \(OPASKA_CONSOLE_DATA_KEY") as error:
        load_settings()
    assert "not-a-key" not in str(error.value)
