"""The fault suite: tests/faults/, and the earlier crash and engine-restart stories it builds on."""

from __future__ import annotations

from pathlib import Path

import pytest

# The engine-restart stories' centre (one resident, two contacts, a short policy, a fake Twilio).
from tests.test_engine_restart import centre  # noqa: F401 - a fixture, used by name

# Fault stories written before the suite: `pytest -m faults` runs them too, so they are not copied.
_EARLIER = {"test_crash.py", "test_engine_restart.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).name in _EARLIER:
            item.add_marker(pytest.mark.faults)
