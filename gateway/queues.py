"""A bounded FIFO whose fullness stops the gateway reading from the broker (back-pressure)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.mqtt.client import IncomingMessage
from gateway.judge import AlarmMessage
from gateway.metrics import QUEUE_DEPTH

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where a message an ingress adapter (Traccar, the watch protocol) normalised came from.

    It is acknowledged to its source through `on_done` (called with the AlarmStored or Rejection
    once an alarm is committed or refused), not to the broker, and gets no `alarm_received`.
    """

    adapter: str
    on_done: Callable[[Any], None] | None = None
    # Why the adapter doubts the message (e.g. an AL frame without a known status bit): an alarm
    # is then stored flagged, as a malformed one from the MQTT path is.
    problems: tuple[str, ...] = ()
    # Kept with an alarm's payload under "source": the device's own identity and words.
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    message: IncomingMessage
    received_at: datetime
    monotonic: float
    origin: Origin | None = None


class BoundedQueue:
    """A FIFO with a soft limit: past it the gateway stops reading; below half it reads again."""

    def __init__(self, name: str, limit: int, on_full: Callable[[], None], on_drained: Callable[[], None]) -> None:
        self._name = name
        self._limit = limit
        self._items: deque[Received] = deque()
        self._ready = asyncio.Event()
        self._on_full = on_full
        self._on_drained = on_drained
        self._full = False
        # The labelled child once: looking it up on every message showed in the profile.
        self._depth = QUEUE_DEPTH.labels(name)

    def put(self, item: Received) -> None:
        self._items.append(item)
        self._ready.set()
        self._depth.set(len(self._items))
        if len(self._items) >= self._limit and not self._full:
            self._full = True
            log.warning("gateway %s queue full (%d): pausing reads from the broker", self._name, self._limit)
            self._on_full()

    async def get(self) -> Received:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        self._after_take()
        return item

    def take_all(self) -> list[Received]:
        return self.take(len(self._items))

    def take(self, most: int) -> list[Received]:
        """Up to `most` items waiting now, oldest first, without waiting for more."""
        items = [self._items.popleft() for _ in range(min(most, len(self._items)))]
        self._after_take()
        return items

    def __len__(self) -> int:
        return len(self._items)

    def _after_take(self) -> None:
        self._depth.set(len(self._items))
        if self._full and len(self._items) <= self._limit // 2:
            self._full = False
            self._on_drained()


def with_origin(message: AlarmMessage, origin: Origin) -> AlarmMessage:
    """The alarm with its adapter's doubts flagged and its source kept beside the payload."""
    payload = {**message.payload, "source": origin.source} if origin.source else message.payload
    problems = [*message.problems, *origin.problems]
    return replace(message, payload=payload, problems=problems, malformed=message.malformed or bool(origin.problems))
