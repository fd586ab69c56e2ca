"""Mosquitto with the project config for a test: skipped (failed under OPASKA_REQUIRE_ALL=1) where
the machine has no mosquitto. The broker itself is the lab's (`simulator.lab.mosquitto`)."""

from __future__ import annotations

from typing import Any

from simulator.lab import mosquitto
from tests.support.require import need_program


class MosquittoProcess(mosquitto.MosquittoProcess):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        need_program("mosquitto")
        super().__init__(*args, **kwargs)
