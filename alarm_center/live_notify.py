"""Wake the live feed when another process commits an alarm event: PostgreSQL LISTEN/NOTIFY.

Migration 0013 makes every transaction that adds alarm events NOTIFY `CHANNEL` at commit. A
notification only wakes the feed's tail; the table stays the feed. So a notification lost, or a
listener connection gone, costs at most one poll interval, and `healthy` does not depend on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import Counter, Gauge
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from core.mqtt.reconnect import Backoff

log = logging.getLogger(__name__)

CHANNEL = "opaska_alarm_event"  # also spelled out in migration 0013
APPLICATION_NAME = "opaska-live-notify"  # how the listener shows in pg_stat_activity
# A network that drops silently (no FIN, no RST) never closes the connection: ask it now and then.
CHECK_EVERY_S = 15.0
CHECK_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0

LISTENING = Gauge(
    "opaska_live_notify_connected",
    "1 while this process LISTENs for committed alarm events (PostgreSQL); 0 while its live feed only polls.",
)
LOST = Counter(
    "opaska_live_notify_lost_total",
    "LISTEN connections lost, or attempts to make one that failed; the live feed polls meanwhile.",
)
WAKES = Counter("opaska_live_notify_wakes_total", "Notifications of committed alarm events received.")


class CommitListener(Protocol):
    """Tells the feed that another process has committed alarm events."""

    async def run(self, wake: Callable[[], None]) -> None:
        """Call `wake` after such commits until cancelled; return at once if this database cannot tell."""


class NoListener:
    """SQLite has no NOTIFY: the feed polls, and `opaska run` wakes it from its own gateway."""

    async def run(self, wake: Callable[[], None]) -> None:
        return


class PostgresListener:
    """One connection of its own (not a pool's: it is held for as long as the process runs) that
    LISTENs on `CHANNEL`, reconnecting with jittered backoff whenever it is lost."""

    def __init__(
        self,
        url: URL,
        *,
        backoff: Backoff | None = None,
        check_every_s: float = CHECK_EVERY_S,
    ) -> None:
        self._url = url
        self._backoff = backoff or Backoff(first_s=0.5, max_s=15.0)
        self._check_every_s = check_every_s
        self.connected = False
        self._failures = 0  # since it last listened

    async def run(self, wake: Callable[[], None]) -> None:
        engine = create_async_engine(
            self._url,
            poolclass=NullPool,
            # asyncpg waits 60 s for a connection by default: too long to notice the database is back.
            connect_args={"server_settings": {"application_name": APPLICATION_NAME}, "timeout": CONNECT_TIMEOUT_S},
        )
        try:
            while True:
                try:
                    await self._listen(engine, wake)
                    problem = "the connection was closed"
                except Exception as exc:  # any failure here only means polling for a while
                    problem = f"{type(exc).__name__}: {exc}"
                self._set_connected(False)
                LOST.inc()
                self._failures += 1
                delay = self._backoff.next_delay()
                if self._failures == 1:
                    # Once per outage, not per attempt: a database away for an hour is one line.
                    log.warning(
                        "live feed: LISTEN %s lost (%s); consoles see new alarms by polling until it is back",
                        CHANNEL,
                        problem,
                    )
                else:
                    log.debug(
                        "live feed: LISTEN attempt %d failed (%s); next in %.1f s", self._failures, problem, delay
                    )
                await asyncio.sleep(delay)
        finally:
            self._set_connected(False)
            await engine.dispose()

    async def _listen(self, engine: AsyncEngine, wake: Callable[[], None]) -> None:
        """Listen until the connection is lost (return) or fails (raise)."""
        connection = await engine.connect()
        closed = asyncio.Event()
        stopping = False
        try:
            driver: Any = (await connection.get_raw_connection()).driver_connection  # an asyncpg.Connection
            driver.add_termination_listener(lambda _connection: closed.set())

            def notified(*_args: object) -> None:
                WAKES.inc()
                wake()

            await driver.add_listener(CHANNEL, notified)
            self._on_listening()
            # Whatever committed while nobody listened: look now rather than at the next poll.
            wake()
            while not closed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), self._check_every_s)
                    return
                await driver.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_S)
        except asyncio.CancelledError:
            stopping = True
            raise
        finally:
            await _close(connection, gracefully=stopping and not closed.is_set())

    def _on_listening(self) -> None:
        if self._failures:
            log.info("live feed: LISTEN %s is back after %d failed attempt(s)", CHANNEL, self._failures)
        else:
            log.info("live feed: woken by PostgreSQL NOTIFY on %s", CHANNEL)
        self._failures = 0
        self._backoff.reset()
        self._set_connected(True)

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected
        LISTENING.set(1 if connected else 0)


async def _close(connection: AsyncConnection, *, gracefully: bool) -> None:
    """Say goodbye to the server when stopping; otherwise (or if it does not answer) just drop the
    socket: a connection that failed its check may sit on a dead network where a goodbye hangs."""
    with contextlib.suppress(Exception):  # it may be gone already; there is nothing to keep
        if gracefully:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECK_TIMEOUT_S):
                    await connection.close()
                    return
        await connection.invalidate()
        await connection.close()


def commit_listener(bind: object) -> CommitListener:
    """The listener for the database the feed reads: PostgreSQL's NOTIFY, or none."""
    if isinstance(bind, AsyncEngine) and bind.dialect.name == "postgresql":
        return PostgresListener(bind.url)
    return NoListener()
