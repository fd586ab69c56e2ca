"""A process's parts run together until a signal or a failure, then stop together."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from core import health
from core.startup import StartupError

log = logging.getLogger(__name__)


async def until_signalled(parts: dict[str, Awaitable[None]], on_stop: Callable[[], Awaitable[None]]) -> None:
    """Run the parts until SIGINT/SIGTERM or until one of them fails; then stop them all."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: dict[asyncio.Future[Any], str] = {
        health.PROCESS.watch(asyncio.ensure_future(awaitable), name): name for name, awaitable in parts.items()
    }
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("%s stopped: %s", tasks[task], task.exception(), exc_info=task.exception())
                raise StartupError(f"{tasks[task]} failed: {task.exception()}")
            if task is not stopper:
                # Every part runs until it is stopped: one that ends by itself leaves the process
                # without it, a failure (exit 1, so a supervisor such as systemd restarts it).
                log.error("%s stopped unexpectedly", tasks[task])
                raise StartupError(f"{tasks[task]} stopped unexpectedly")
        log.info("stopping")
    finally:
        # The loops of most parts only end by cancellation: cancel them first, so none of them
        # reconnects to a broker that is shutting down. The console's HTTP server finishes by
        # itself once told (closing WebSockets cleanly).
        graceful = [task for task, name in tasks.items() if name == "console"]
        others = [task for task in tasks if task not in graceful]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await on_stop()
        if graceful:
            await asyncio.wait(graceful, timeout=5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
