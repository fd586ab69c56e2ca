"""Downlink to bands: the sender that publishes the outbox (`registry.traffic.downlinks`).

`alarm_received` goes out straight after an alarm's commit (a band that misses it repeats the
alarm). `alarm_claimed`, `config` and `locate` are written to the `band_downlink` outbox in the
same transaction as the decision, and the gateway publishes them from there: a restart or a
broker outage delays them, never loses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.mqtt.client import AsyncMqttClient
from gateway.topics import TopicScheme
from registry.model import Band
from registry.traffic.downlinks import BandDownlink

log = logging.getLogger(__name__)

POLL_S = 0.5
BATCH = 200


class DownlinkSender:
    """Publishes the outbox in order, marking each row sent once the broker has it (PUBACK)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], client: AsyncMqttClient, topics: TopicScheme, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._topics = topics
        self._clock = clock
        self.wake = asyncio.Event()
        # Ingress adapters that speak to their own bands (a connected watch): each takes a downlink
        # (serial, kind, payload) it can deliver itself and says so; the rest go over MQTT.
        self.routes: list[Callable[[str, str, dict[str, Any]], bool]] = []

    async def run(self) -> None:
        while True:
            try:
                sent = await self.send_pending()
            except Exception as exc:  # a database or broker fault: try again on the next round
                log.warning("downlink not sent yet (%s: %s); retrying", type(exc).__name__, exc)
                sent = 0
            if sent < BATCH:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), POLL_S)

    async def send_pending(self) -> int:
        """Send up to BATCH unsent rows, oldest first; the number sent.

        On PostgreSQL each row is claimed with FOR UPDATE SKIP LOCKED and held while it is
        published and marked sent, so two gateways never send the same row. SQLite runs one
        gateway, and there a transaction held during a publish would hold the database's only
        write lock and delay alarms: the row is read, published, then marked, each on its own.
        A row whose publish fails stays unsent for the next round.
        """
        sent = 0
        while sent < BATCH and self._client.is_connected:
            async with self._sessions() as session, session.begin():
                locking = session.get_bind().dialect.name == "postgresql"
                row = await self._next_unsent(session, lock=locking)
                if row is None:
                    break
                if locking:
                    await self._publish(row)
                    await self._mark_sent(session, row[0])
            if not locking:
                await self._publish(row)
                async with self._sessions() as session, session.begin():
                    await self._mark_sent(session, row[0])
            sent += 1
        return sent

    async def _next_unsent(
        self, session: AsyncSession, *, lock: bool
    ) -> tuple[int, str, dict[str, Any], bool, str] | None:
        query = (
            select(BandDownlink.id, BandDownlink.kind, BandDownlink.payload, BandDownlink.retain, Band.serial)
            .join(Band, Band.id == BandDownlink.band_id)
            .where(BandDownlink.sent_at.is_(None))
            .order_by(BandDownlink.id)
            .limit(1)
        )
        if lock:
            query = query.with_for_update(of=BandDownlink, skip_locked=True)
        row = (await session.execute(query)).first()
        return None if row is None else (row[0], row[1], row[2], row[3], row[4])

    async def _publish(self, row: tuple[int, str, dict[str, Any], bool, str]) -> None:
        row_id, kind, payload, retain, serial = row
        for route in self.routes:
            if route(serial, kind, payload):
                return
        body = json.dumps({**payload, "id": row_id}).encode()
        await self._client.publish(self._topics.downlink(serial, kind), body, qos=1, retain=retain)

    async def _mark_sent(self, session: AsyncSession, row_id: int) -> None:
        await session.execute(
            update(BandDownlink)
            .where(BandDownlink.id == row_id)
            .values(sent_at=self._clock.now(), attempts=BandDownlink.attempts + 1)
        )
