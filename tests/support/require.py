"""A missing service skips under `make test`; under OPASKA_REQUIRE_ALL=1 (CI) it fails."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

REQUIRE_ALL = os.environ.get("OPASKA_REQUIRE_ALL") == "1"


def need(available: bool, reason: str) -> None:
    if available:
        return
    if REQUIRE_ALL:
        pytest.fail(f"OPASKA_REQUIRE_ALL=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def need_program(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    need(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
