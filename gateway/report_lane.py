"""The report lane: heartbeats, battery, strap, location, check-ins and status, written once a second.

Reports are acked as soon as they are queued; here they are judged in batches, coalesced into one
presence update per band (`PresenceBatch`) and committed together with the dead letters, retried
until the database takes them. While it does not, presence is stale: `healthy_since` says so, and
supervision judges no band offline meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from core.clock import Clock
from core.mqtt.reconnect import Backoff
from core.settings import BandSettings
from gateway.judge import AlarmMessage, Reason, Rejection, StatusMessage, TelemetryMessage, judge
from gateway.metrics import COMMIT_SECONDS, DB_RETRIES
from gateway.outcomes import Outcomes, kind_label
from gateway.payloads import STATUS_KIND
from gateway.presence import PresenceBatch
from gateway.queues import BoundedQueue, Received
from gateway.service import BandMessageService, ReportsStored
from gateway.stored import unknown_band
from gateway.topics import TopicScheme
from registry.traffic.dead_letters import DeadLetterEntry

log = logging.getLogger(__name__)

PRESENCE_FLUSH_S = 1.0
# Reports judged between two turns of the event loop when a batch is flushed (a turn costs ~20 µs).
YIELD_EVERY = 20


@dataclass(frozen=True)
class _Judged:
    item: Received
    verdict: TelemetryMessage | StatusMessage


class ReportLane:
    def __init__(
        self,
        *,
        queue: BoundedQueue,
        service: BandMessageService,
        topics: TopicScheme,
        clock: Clock,
        bands: BandSettings,
        outcomes: Outcomes,
    ) -> None:
        self._queue = queue
        self._service = service
        self._topics = topics
        self._clock = clock
        self._bands = bands
        self._outcomes = outcomes
        # Since when presence is being written; None while the database refuses it.
        self.healthy_since: datetime | None = clock.now()
        # Bands an ingress adapter heard from without a report to show for it (a bare keepalive).
        self._heard: list[tuple[str, datetime]] = []

    def heard(self, band: str) -> None:
        self._heard.append((band, self._clock.now()))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_FLUSH_S)
            items = self._queue.take_all()
            if items or self._outcomes.dead_letters or self._heard:
                try:
                    await self._flush(items)
                except Exception:
                    # Reports are acked already; losing one batch to a bug beats stopping them all.
                    log.exception("report worker: a batch of %d reports failed; carrying on", len(items))

    def _judge(self, item: Received) -> AlarmMessage | TelemetryMessage | StatusMessage | Rejection:
        try:
            return judge(self._topics, item.message.topic, item.message.payload, item.received_at)
        except Exception:
            log.exception("judging a message on %s failed", item.message.topic[:200])
            return Rejection(Reason.MALFORMED, "could not be judged")

    async def _flush(self, items: list[Received]) -> None:
        batch = PresenceBatch()
        heard, self._heard = self._heard, []
        for band, at in heard:
            batch.heard(band, at)
        judged: list[_Judged] = []
        for index, item in enumerate(items, start=1):
            if index % YIELD_EVERY == 0:
                # Judging a second's heartbeats takes a while (about 200 ms for 1,700 on a loaded
                # 2-core machine): let the alarm worker run in between, so no SOS waits behind them.
                await asyncio.sleep(0)
            verdict = self._judge(item)
            if isinstance(verdict, Rejection):
                self._outcomes.rejected(verdict, item)
                if verdict.band_was_heard:
                    batch.heard(verdict.band or "", item.received_at)
                continue
            if isinstance(verdict, TelemetryMessage):
                batch.add(verdict, item.received_at)
            elif isinstance(verdict, StatusMessage):
                batch.status(verdict, item.received_at)
            else:  # an sos/fall topic never lands in this queue
                raise AssertionError(f"unexpected alarm in the telemetry queue: {item.message.topic!r}")
            judged.append(_Judged(item, verdict))
        stored = await self._store_until_committed(batch, self._outcomes.take_dead_letters())
        self._count(judged, stored)

    def _count(self, judged: list[_Judged], stored: ReportsStored) -> None:
        # Counted per batch, not per message: a labelled metric's lookup costs more than the count.
        counts: Counter[tuple[str, str]] = Counter()
        telemetry_seconds = COMMIT_SECONDS.labels("telemetry")
        now = time.monotonic()
        for entry in judged:
            verdict = entry.verdict
            kind = verdict.kind if isinstance(verdict, TelemetryMessage) else STATUS_KIND
            if verdict.band in stored.unknown_bands:
                self._outcomes.rejected(unknown_band(verdict.band, kind), entry.item)
            else:
                duplicate = (
                    isinstance(verdict, TelemetryMessage) and (verdict.band, verdict.message_id) in stored.duplicates
                )
                counts[kind_label(kind), "duplicate" if duplicate else "accepted"] += 1
                telemetry_seconds.observe(now - entry.item.monotonic)
        self._outcomes.accepted_many(counts)

    async def _store_until_committed(self, batch: PresenceBatch, dead_letters: list[DeadLetterEntry]) -> ReportsStored:
        backoff = Backoff(first_s=0.5, max_s=10.0)
        while True:
            try:
                stored = await self._service.store_reports(
                    batch, dead_letters, dead_letter_keep=self._bands.dead_letter_keep
                )
                if self.healthy_since is None:
                    # Presence is being written again: supervision's offline clock restarts here.
                    self.healthy_since = self._clock.now()
                return stored
            except (DBAPIError, OSError) as exc:
                # Until presence is written again, what the database says about bands is stale.
                self.healthy_since = None
                DB_RETRIES.inc()
                delay = backoff.next_delay()
                log.error("cannot write band reports (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
