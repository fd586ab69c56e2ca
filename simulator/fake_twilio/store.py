"""What the fake has seen and made: requests, messages, calls and the webhooks it sent, and a way to wait for them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from simulator.fake_twilio.records import CallbackResult, FakeCall, FakeMessage, RecordedRequest


class Store:
    """Everything recorded, oldest first; `touch()` after each change wakes whoever waits in `wait_for`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.messages: list[FakeMessage] = []
        self.calls: list[FakeCall] = []
        self.callbacks: list[CallbackResult] = []
        self._changed = asyncio.Event()

    def message(self, sid: str) -> FakeMessage:
        return next(m for m in self.messages if m.sid == sid)

    def call(self, sid: str) -> FakeCall:
        return next(c for c in self.calls if c.sid == sid)

    def sent_to(self, number: str) -> list[FakeMessage]:
        """Outbound messages to `number`, oldest first."""
        return [m for m in self.messages if m.to == number and m.direction == "outbound-api"]

    def calls_to(self, number: str) -> list[FakeCall]:
        return [c for c in self.calls if c.to == number]

    def touch(self) -> None:
        """Something changed: wake every `wait_for`."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float = 2.0) -> None:
        """Wait until `predicate()` holds; it is checked after every change the fake sees."""
        async with asyncio.timeout(timeout):
            while not predicate():
                changed = self._changed
                await changed.wait()
