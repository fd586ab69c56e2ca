"""Voice time: the fake's calls ring, talk and wait in *virtual* seconds, so durations are exact and no test sleeps.

Every call is a task that runs freely until it waits for something that takes time or for someone else (an
answer, a dequeue, a hang-up). `settle()` waits until every task waits; `advance(seconds)` then moves the clock,
waking each timer in order and settling after each. What happens "at once" (callbacks, TwiML fetches) happens
by itself; what takes time happens only when a test (or the realtime driver of a demo) advances the clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)


class Waiter:
    """One wait of one task; the first `fire(reason)` wakes it, later ones are ignored."""

    def __init__(self, clock: VoiceClock) -> None:
        self._clock = clock
        self.future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @property
    def done(self) -> bool:
        return self.future.done()

    def fire(self, reason: str) -> None:
        if not self.future.done():
            # The woken task counts as busy from now, so `settle` does not return before it has run.
            self._clock.busy += 1
            self.future.set_result(reason)


class VoiceClock:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self.elapsed = 0.0
        # Voice time follows the wall clock (demos): `now` is then the wall clock alone.
        self.realtime = False
        self._busy = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self.errors: list[str] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    @property
    def busy(self) -> int:
        """How many call tasks are running (not waiting on the clock)."""
        return self._busy

    @busy.setter
    def busy(self, value: int) -> None:
        self._busy = value
        if value > 0:
            self._quiet.clear()
        else:
            self._quiet.set()

    def now(self) -> datetime:
        # In real time the wall clock has moved by `elapsed` already: adding it would count it twice.
        return self._now() if self.realtime else self._now() + timedelta(seconds=self.elapsed)

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run `work` as a task of the fake's voice side (busy until it waits on the clock or ends)."""
        self.busy += 1

        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a call's task must not die silently: tests read `errors`
                log.exception("fake twilio: %s failed", name)
                self.errors.append(f"{name}: {error!r}")
            finally:
                self.busy -= 1

        task = asyncio.get_running_loop().create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def call_later(self, seconds: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.elapsed + max(0.0, seconds), next(self._seq), action))

    async def wait(self, waiter: Waiter, seconds: float | None = None) -> str:
        """Wait until `waiter` fires (its reason) or `seconds` of voice time pass ("timeout")."""
        if seconds is not None:
            self.call_later(seconds, lambda: waiter.fire("timeout"))
        self.busy -= 1
        try:
            return await waiter.future
        except asyncio.CancelledError:
            self.busy += 1  # `spawn`'s finally takes it back
            raise

    async def settle(self, *, timeout: float = 5.0) -> None:
        """Wait until every call's task waits on the clock (or has ended)."""
        async with asyncio.timeout(timeout):
            while self.busy > 0:
                await self._quiet.wait()
                await asyncio.sleep(0)  # let a task woken in the same step mark itself busy

    async def advance(self, seconds: float, *, timeout: float = 5.0) -> None:
        """Let `seconds` of voice time pass, acting out everything due in them, in order."""
        async with self._lock:
            target = self.elapsed + seconds
            await self.settle(timeout=timeout)
            while self._timers and self._timers[0][0] <= target:
                due, _, action = heapq.heappop(self._timers)
                self.elapsed = max(self.elapsed, due)
                action()
                await self.settle(timeout=timeout)
            self.elapsed = max(self.elapsed, target)

    async def run_realtime(self, step: float = 0.1) -> None:
        """For demos: voice time follows the wall clock."""
        self.realtime = True
        while True:
            await asyncio.sleep(step)
            try:
                await self.advance(step, timeout=60.0)
            except TimeoutError:
                log.warning("fake twilio: a call waited over 60 s on something other than the clock")

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
