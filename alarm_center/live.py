"""The live feed: new alarm events, tailed from the database and fanned out to consoles.

The alarm_event table is the feed, so a console in another process, or one that restarted, sees
exactly what was committed. The tail polls now and then, and at once when woken: by `LiveWake`
after a commit in this process, or on PostgreSQL by a NOTIFY after a commit in any process
(alarm_center.live_notify). A wake-up lost costs at most one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms import repository
from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmKind
from alarm_center.alarms.views import AlarmView, alarm_views
from alarm_center.live_notify import CommitListener, commit_listener

log = logging.getLogger(__name__)

# PostgreSQL hands out ids at insert, not at commit: a lower id can commit after a higher one.
# Ids missing below the newest seen one are waited for this long before being given up on.
GAP_WAIT_S = 5.0
POLL_S = 0.25
SUBSCRIBER_QUEUE = 1000


class LiveWake:
    """Poke the tail after a commit in this process, so it polls now."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def poke(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()


class EventCursor:
    """Which event ids were delivered, tolerating ids that commit out of order."""

    def __init__(self, start_after: int) -> None:
        self.low = start_after  # every id <= low is delivered or given up
        self._delivered: set[int] = set()
        self._gap_since: dict[int, float] = {}

    def is_new(self, event_id: int) -> bool:
        return event_id > self.low and event_id not in self._delivered

    def mark(self, event_id: int) -> None:
        self._delivered.add(event_id)

    def advance(self, now: float) -> None:
        highest = max(self._delivered, default=self.low)
        while self.low < highest:
            nxt = self.low + 1
            if nxt in self._delivered:
                self._delivered.discard(nxt)
            else:
                first_seen = self._gap_since.setdefault(nxt, now)
                if now - first_seen < GAP_WAIT_S:
                    break
                self._gap_since.pop(nxt, None)
            self.low = nxt


class AlarmFeed:
    """Tails alarm events and hands each new one, with its alarm's current view, to subscribers."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        wake: LiveWake | None = None,
        *,
        listener: CommitListener | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        """`listener`: by default PostgreSQL's NOTIFY when the sessions' database is PostgreSQL."""
        self._sessions = session_factory
        self._wake = wake or LiveWake()
        self._listener = listener
        self._poll_s = poll_s
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        # The alarm canary's (opaska/canary_probe.py): canary alarms only, which nobody else gets.
        self._canary_subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._cursor: EventCursor | None = None
        self.healthy = False

    async def snapshot(self) -> tuple[list[AlarmView], int]:
        """Open alarms now, and the event id they are current as of."""
        async with self._sessions() as session:
            last = await repository.latest_event_id(session)
            alarms = await alarm_views(session, await repository.open_alarms(session))
        return alarms, last

    @contextlib.asynccontextmanager
    async def subscribe(self, *, canary: bool = False) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """Every alarm event but the platform canary's; with `canary`, the canary's only."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(SUBSCRIBER_QUEUE)
        subscribers = self._canary_subscribers if canary else self._subscribers
        subscribers.add(queue)
        try:
            yield queue
        finally:
            subscribers.discard(queue)

    async def run(self) -> None:
        async with self._sessions() as session:
            listener = self._listener or commit_listener(session.bind)
            self._cursor = EventCursor(await repository.latest_event_id(session))
        # Not part of `healthy`: without it the tail still polls, only a little later.
        listening = asyncio.create_task(listener.run(self._wake.poke), name="live-notify")
        try:
            while True:
                try:
                    await self._poll_once()
                    self.healthy = True
                except Exception:
                    self.healthy = False
                    log.exception("live feed poll failed; retrying")
                    await asyncio.sleep(1)
                await self._wake.wait(self._poll_s)
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening

    async def _poll_once(self) -> None:
        assert self._cursor is not None
        cursor = self._cursor
        async with self._sessions() as session:
            events = (
                (
                    await session.execute(
                        select(AlarmEvent).where(AlarmEvent.id > cursor.low).order_by(AlarmEvent.id).limit(500)
                    )
                )
                .scalars()
                .all()
            )
            fresh = [event for event in events if cursor.is_new(event.id)]
            if fresh:
                alarms = (
                    (await session.execute(select(Alarm).where(Alarm.id.in_({e.alarm_id for e in fresh}))))
                    .scalars()
                    .all()
                )
                views = {view.id: view for view in await alarm_views(session, alarms)}
                for event in fresh:
                    cursor.mark(event.id)
                    view = views.get(event.alarm_id)
                    self._publish(
                        {
                            "type": "alarm_event",
                            "event": {"id": event.id, "type": event.type, "at": event.at.isoformat()},
                            "alarm": view.model_dump(mode="json") if view else None,
                        }
                    )
        cursor.advance(time.monotonic())

    def _publish(self, message: dict[str, Any]) -> None:
        alarm = message.get("alarm")
        canary = isinstance(alarm, dict) and alarm.get("kind") == AlarmKind.CANARY.value
        subscribers = self._canary_subscribers if canary else self._subscribers
        for queue in list(subscribers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # A console that stopped reading is cut off; it reconnects and re-syncs.
                log.warning("live subscriber too slow; dropping it")
                subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait({"type": "overflow"})
