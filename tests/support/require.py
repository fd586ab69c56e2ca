"""A missing service skips under `make test`; under OPASKA_REQUIRE_ALL=1 (CI) it fails."""

from __future__ import annotations

import os

import pytest

from simulator.lab.ports import find_program, free_port, free_port_pair

__all__ = ["REQUIRE_ALL", "free_port", "free_port_pair", "need", "need_program"]

REQUIRE_ALL = os.environ.get("OPASKA_REQUIRE_ALL") == "1"


def need(available: bool, reason: str) -> None:
    if available:
        return
    if REQUIRE_ALL:
        pytest.fail(f"OPASKA_REQUIRE_ALL=1 and {reason}", pytrace=False)
    pytest.skip(reason)


def need_program(name: str) -> str:
    path = find_program(name)
    need(path is not None, f"{name} is not installed")
    assert path is not None
    return path
