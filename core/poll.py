"""A loop that survives: every few seconds one round of work, timed; a failed round logged, counted
and tried again next time, so the loop itself never dies of the database being away."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn

from prometheus_client import Counter, Histogram

from core.clock import Clock


async def poll_forever(
    run_round: Callable[[], Awaitable[object]],
    *,
    every_s: float,
    clock: Clock,
    round_seconds: Histogram,
    failures: Counter,
    log: logging.Logger,
    what: str,
) -> NoReturn:
    """Run `run_round` every `every_s` seconds until cancelled.

    A round that finished is observed in `round_seconds`; one that raised is counted in `failures`
    and logged as "`what` failed" (in the caller's logger, so its logs stay where they were)."""
    while True:
        started = time.perf_counter()
        try:
            await run_round()
        except Exception:
            failures.inc()
            log.exception("%s failed; retrying in %.0f s", what, every_s)
        else:
            round_seconds.observe(time.perf_counter() - started)
        await clock.sleep(every_s)
        # A FakeClock's sleep returns without yielding when time was moved far ahead; let other
        # tasks run between rounds either way.
        await asyncio.sleep(0)
