"""The live feed across processes: on PostgreSQL a committed alarm event wakes every feed at once
(LISTEN/NOTIFY, migration 0013); the table stays the feed, so a lost notification or listener
costs only the poll interval, and the listener comes back by itself.

The feeds here poll once a minute and every wait is a few seconds: an event that arrives was
brought by a notification (or the wake-up after reconnecting), never by the poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets
from alembic import command
from alembic.config import Config
from cryptography.fernet import Fernet
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from alarm_center.alarms.model import AlarmKind
from alarm_center.live import AlarmFeed
from alarm_center.live_notify import APPLICATION_NAME, NoListener, PostgresListener, commit_listener
from core.clock import FakeClock
from core.db.engine import make_engine, make_session_factory
from core.mqtt.reconnect import Backoff
from opaska.db.migrate import MIGRATIONS_DIR
from simulator.lab.processes import opaska_env, wait_healthy
from simulator.lab.staff import create_staff, log_in
from tests.support.alarms import press
from tests.support.processes import opaska_process
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

NEVER_S = 60.0  # a poll interval no test waits for
WITHIN_S = 5.0


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def _until(condition: Callable[[], bool], what: str, timeout: float = WITHIN_S) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


@contextlib.asynccontextmanager
async def running(feed: AlarmFeed) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    async with feed.subscribe() as queue:
        task = asyncio.create_task(feed.run())
        try:
            yield queue
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _next_alarm_event(queue: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
    async with asyncio.timeout(WITHIN_S):
        return await queue.get()


async def _listener_backends(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND datname = current_database()"
                " AND query LIKE 'LISTEN%'"
            ),
            {"name": APPLICATION_NAME},
        )
        return [row.pid for row in rows]


async def _kill_listeners(engine: AsyncEngine) -> int:
    pids = await _listener_backends(engine)
    async with engine.connect() as connection:
        for pid in pids:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    return len(pids)


@pytest_asyncio.fixture
async def band(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> SeededBand:
    return await seed_resident_with_band(sessions, clock)


async def test_the_listener_follows_the_database(db_engine: AsyncEngine) -> None:
    listener = commit_listener(db_engine)
    expected = PostgresListener if db_engine.dialect.name == "postgresql" else NoListener
    assert type(listener) is expected


async def test_failed_attempts_are_logged_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on this port: every attempt fails at once (asyncpg is installed on SQLite too).
    nowhere = make_url(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    listener = PostgresListener(nowhere, backoff=Backoff(first_s=0.02, max_s=0.05))
    lost_before = _sample("opaska_live_notify_lost_total")
    caplog.set_level(logging.INFO, logger="alarm_center.live_notify")
    task = asyncio.create_task(listener.run(lambda: None))
    await _until(lambda: _sample("opaska_live_notify_lost_total") - lost_before >= 5, "attempts were made")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "polling" in warnings[0].getMessage()
    assert not listener.connected
    assert _sample("opaska_live_notify_connected") == 0


@pytest.mark.postgresql_only
async def test_a_commit_elsewhere_wakes_every_feed_at_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession], band: SeededBand
) -> None:
    engines = [make_engine(database_url) for _ in range(2)]
    listeners = [PostgresListener(engine.url) for engine in engines]
    feeds = [
        AlarmFeed(make_session_factory(engine), listener=listener, poll_s=NEVER_S)
        for engine, listener in zip(engines, listeners, strict=True)
    ]
    try:
        async with running(feeds[0]) as first, running(feeds[1]) as second:
            await _until(lambda: all(listener.connected for listener in listeners), "both listen")
            wakes_before = _sample("opaska_live_notify_wakes_total")
            # The writer is a third engine, as the gateway is a process of its own.
            alarm_id = await press(sessions, band, AlarmKind.SOS, at=datetime.now(UTC))
            committed = time.perf_counter()
            received = [await _next_alarm_event(queue) for queue in (first, second)]
            latency_ms = (time.perf_counter() - committed) * 1000
            assert [m["alarm"]["id"] for m in received] == [alarm_id, alarm_id]
            assert _sample("opaska_live_notify_wakes_total") - wakes_before >= 2
            assert all(feed.healthy for feed in feeds)
            print(f"\nlive notify: commit -> both feeds in {latency_ms:.1f} ms")  # informative, seen with -s
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.mark.postgresql_only
async def test_with_the_listener_gone_the_feed_still_polls_and_stays_healthy(
    database_url: str,
    db_engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    band: SeededBand,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(database_url)
    # Comes back only after the test: meanwhile the poll alone must carry the feed.
    listener = PostgresListener(engine.url, backoff=Backoff(first_s=NEVER_S, max_s=NEVER_S))
    feed = AlarmFeed(make_session_factory(engine), listener=listener, poll_s=0.2)
    caplog.set_level(logging.INFO, logger="alarm_center.live_notify")
    try:
        async with running(feed) as queue:
            await _until(lambda: listener.connected, "it listens")
            await _until(lambda: feed.healthy, "the feed polled")
            assert await _kill_listeners(db_engine) == 1
            await _until(lambda: not listener.connected, "the loss is noticed")
            assert _sample("opaska_live_notify_connected") == 0
            alarm_id = await press(sessions, band, AlarmKind.SOS, at=datetime.now(UTC))
            assert (await _next_alarm_event(queue))["alarm"]["id"] == alarm_id
            assert feed.healthy
            assert not listener.connected
    finally:
        await engine.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "lost" in warnings[0]


@pytest.mark.postgresql_only
async def test_the_listener_comes_back_by_itself_and_catches_up(
    database_url: str,
    db_engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    band: SeededBand,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(database_url)
    listener = PostgresListener(engine.url, backoff=Backoff(first_s=0.5, max_s=1.0))
    feed = AlarmFeed(make_session_factory(engine), listener=listener, poll_s=NEVER_S)
    caplog.set_level(logging.INFO, logger="alarm_center.live_notify")
    try:
        async with running(feed) as queue:
            await _until(lambda: listener.connected, "it listens")
            first_backend = await _listener_backends(db_engine)
            assert await _kill_listeners(db_engine) == 1
            await _until(lambda: not listener.connected, "the loss is noticed")
            # Committed while nobody listens: its notification is lost; the reconnect looks anyway.
            missed = await press(sessions, band, AlarmKind.SOS, at=datetime.now(UTC))
            assert (await _next_alarm_event(queue))["alarm"]["id"] == missed
            await _until(lambda: listener.connected, "it listens again")
            second_backend = await _listener_backends(db_engine)
            assert len(second_backend) == 1
            assert second_backend != first_backend
            wakes_before = _sample("opaska_live_notify_wakes_total")
            fall = await press(sessions, band, AlarmKind.FALL, at=datetime.now(UTC))
            assert (await _next_alarm_event(queue))["alarm"]["id"] == fall
            assert _sample("opaska_live_notify_wakes_total") > wakes_before
    finally:
        await engine.dispose()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("lost" in m for m in messages) == 1
    assert any("is back" in m for m in messages)


@pytest.mark.postgresql_only
async def test_the_trigger_is_migrated_and_migrated_away(db_engine: AsyncEngine) -> None:
    def migrate(connection: Connection, to: str) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        (command.downgrade if to != "head" else command.upgrade)(config, to)

    async def triggers() -> list[str]:
        async with db_engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'alarm_event'::regclass AND NOT tgisinternal")
            )
            return [row.tgname for row in rows]

    assert await triggers() == ["alarm_event_notify"]
    async with db_engine.begin() as connection:
        await connection.run_sync(migrate, "0012_voice_calls")
    assert await triggers() == []
    async with db_engine.begin() as connection:
        await connection.run_sync(migrate, "head")
    assert await triggers() == ["alarm_event_notify"]


@pytest.mark.postgresql_only
@pytest.mark.timeout(120)
async def test_an_alarm_reaches_a_console_process_through_notify(
    database_url: str, sessions: async_sessionmaker[AsyncSession], clock: FakeClock, band: SeededBand, tmp_path: Path
) -> None:
    """`opaska console` as a process of its own: its live socket gets an alarm committed here, and
    its /metrics say it was woken by a notification."""
    admin = await create_staff(sessions, clock, role="administrator")
    port = free_port()
    env = opaska_env(
        OPASKA_DATABASE_URL=database_url,
        OPASKA_CONSOLE_PORT=str(port),
        OPASKA_CONSOLE_DATA_KEY=Fernet.generate_key().decode(),
    )
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "console.log"
    with opaska_process(["console"], env, log_path) as process:
        await wait_healthy(base, process, log_path)
        async with httpx.AsyncClient(base_url=base) as http:
            login = await log_in(http, admin)
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/ws/live", additional_headers=login.cookie_header
            ) as ws:
                json.loads(await ws.recv())  # the snapshot
                alarm_id = await press(sessions, band, AlarmKind.SOS, at=datetime.now(UTC))
                committed = time.perf_counter()
                async with asyncio.timeout(WITHIN_S):
                    message = json.loads(await ws.recv())
                latency_ms = (time.perf_counter() - committed) * 1000
            assert message["alarm"]["id"] == alarm_id
            metrics = (await http.get("/metrics")).text
    assert "opaska_live_notify_connected 1.0" in metrics, log_path.read_text()
    wakes = next(line for line in metrics.splitlines() if line.startswith("opaska_live_notify_wakes_total "))
    assert float(wakes.split()[1]) >= 1
    print(f"\nlive notify: commit -> console process's WebSocket in {latency_ms:.1f} ms")  # informative, seen with -s
