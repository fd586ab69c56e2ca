"""Fault injection: what the fake does to a create request instead of answering it well."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Literal

from simulator.fake_twilio.config import Resource
from simulator.fake_twilio.errors import Dropped, TwilioError

_SERVER_ERRORS = {500: (20500, "Internal Server Error"), 503: (20503, "Service Unavailable")}


@dataclass
class Fault:
    """What the fake does to one create request (POST Messages.json / Calls.json) instead of answering it well.

    - `error`: nothing is created; the answer is `status` (5xx, or 429 "Too Many Requests") in Twilio's shape.
    - `hang`: the answer never comes; after `seconds` the connection is dropped. With `created`, the
      message/call was created first — a client timeout then hides a success.
    - `lost`: created and recorded, then the answer is lost: a 500 (`lost_as="500"`, what the async client's
      `max_retries` re-POSTs — a second SMS) or a dropped connection (`lost_as="drop"`).
    - `slow`: answered well, but only after `seconds` (a slow provider, within the client's timeout or not).
    """

    kind: Literal["error", "hang", "lost", "slow"]
    status: int = 500
    code: int | None = None
    seconds: float = 5.0
    created: bool = False
    lost_as: Literal["500", "drop"] = "500"
    only: Resource | None = None

    def applies_to(self, resource: Resource) -> bool:
        return self.only is None or self.only == resource


class FaultQueue:
    """The faults still to come, in order, and how each is acted out around the create it spoils."""

    def __init__(self) -> None:
        self._faults: deque[Fault] = deque()
        # Set on stop: hung and slow requests wake at once, so the server shuts down quickly.
        self._closing = asyncio.Event()

    def fail_next(
        self, n: int = 1, *, status: int = 500, code: int | None = None, only: Resource | None = None
    ) -> None:
        """The next `n` creates get `status` (500/503/429…); nothing is created."""
        self._faults.extend(Fault("error", status=status, code=code, only=only) for _ in range(n))

    def hang_next(
        self, n: int = 1, *, seconds: float = 5.0, created: bool = False, only: Resource | None = None
    ) -> None:
        """The next `n` creates get no answer for `seconds`, then a dropped connection; `created`: made anyway."""
        self._faults.extend(Fault("hang", seconds=seconds, created=created, only=only) for _ in range(n))

    def slow_next(self, n: int = 1, *, seconds: float = 1.0, only: Resource | None = None) -> None:
        """The next `n` creates are answered well, `seconds` late."""
        self._faults.extend(Fault("slow", seconds=seconds, only=only) for _ in range(n))

    def lose_next(self, n: int = 1, *, lost_as: Literal["500", "drop"] = "500", only: Resource | None = None) -> None:
        """The next `n` creates succeed (recorded, callbacks follow) but the answer is a 500 or a dropped line."""
        self._faults.extend(Fault("lost", lost_as=lost_as, only=only) for _ in range(n))

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending(self) -> int:
        return len(self._faults)

    def take(self, resource: Resource) -> Fault | None:
        """The first fault waiting for a create of `resource`, removed from the queue."""
        for fault in self._faults:
            if fault.applies_to(resource):
                self._faults.remove(fault)
                return fault
        return None

    def wake_all(self) -> None:
        """Stop every hang and delay now (the server is stopping)."""
        self._closing.set()

    async def before_create(self, fault: Fault) -> None:
        """The part of `fault` acted out before anything is created: refuse, hang, or delay."""
        if fault.kind == "error":
            code, text = _SERVER_ERRORS.get(fault.status, (20429, "Too Many Requests"))
            raise TwilioError(fault.status, fault.code or code, text)
        if fault.kind == "hang" and not fault.created:
            await self._hang(fault.seconds)
        if fault.kind == "slow":
            await self._sleep(fault.seconds)

    async def after_create(self, fault: Fault) -> None:
        """The part of `fault` acted out once the message or call exists: hang, or lose the answer."""
        if fault.kind == "hang":
            await self._hang(fault.seconds)
        if fault.kind == "lost":
            if fault.lost_as == "drop":
                raise Dropped
            raise TwilioError(500, 20500, "Internal Server Error")

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _hang(self, seconds: float) -> None:
        await self._sleep(seconds)
        raise Dropped
