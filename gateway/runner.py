"""The gateway process: MQTT in, judged, committed, then acked; downlink `alarm_received` out.

Alarms and telemetry go to separate queues with separate workers, so an SOS never waits behind
heartbeats. An alarm's PUBACK is sent only after its commit: if we die first, a persistent-session
broker (Mosquitto) redelivers it, and the band repeats it until `alarm_received` in any case.
Telemetry is acked as soon as it is queued, so held acks never fill the broker's in-flight window
ahead of an SOS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import IntakeRace
from gateway.judge import AlarmMessage, Rejection, TelemetryMessage, judge
from gateway.metrics import BAND_MESSAGES, COMMIT_SECONDS, DB_RETRIES, QUEUE_DEPTH
from gateway.payloads import ALARM_KINDS, TELEMETRY_MODELS
from gateway.service import AlarmStored, BandMessageService
from gateway.topics import TopicScheme
from opaska.clock import Clock
from opaska.mqtt.client import AsyncMqttClient, IncomingMessage
from opaska.mqtt.endpoint import MqttEndpoint
from opaska.mqtt.reconnect import Backoff, stay_connected

log = logging.getLogger(__name__)

ALARM_QUEUE_LIMIT = 10_000
TELEMETRY_QUEUE_LIMIT = 20_000
PRESENCE_FLUSH_S = 1.0
FAILURES_BEFORE_MINIMAL_PAYLOAD = 3


@dataclass(frozen=True)
class Received:
    message: IncomingMessage
    received_at: datetime
    monotonic: float


class _BoundedQueue:
    """A FIFO with a soft limit: past it the gateway stops reading from the broker."""

    def __init__(self, name: str, limit: int, on_full: Callable[[], None], on_drained: Callable[[], None]) -> None:
        self._name = name
        self._limit = limit
        self._items: deque[Received] = deque()
        self._ready = asyncio.Event()
        self._on_full = on_full
        self._on_drained = on_drained
        self._full = False

    def put(self, item: Received) -> None:
        self._items.append(item)
        self._ready.set()
        QUEUE_DEPTH.labels(self._name).set(len(self._items))
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
        items = list(self._items)
        self._items.clear()
        self._after_take()
        return items

    def __len__(self) -> int:
        return len(self._items)

    def _after_take(self) -> None:
        QUEUE_DEPTH.labels(self._name).set(len(self._items))
        if self._full and len(self._items) <= self._limit // 2:
            self._full = False
            self._on_drained()


def _kind_label(kind: str | None) -> str:
    # Only known kinds become label values: a hostile topic must not create unbounded series.
    return kind if kind in ALARM_KINDS or kind in TELEMETRY_MODELS else "other"


class Gateway:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        topics: TopicScheme,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        client_id: str,
        protocol: str,
        session_expiry_s: int,
        keepalive_s: int,
        on_alarm_stored: Callable[[AlarmStored], None] | None = None,
    ) -> None:
        self._topics = topics
        self._service = BandMessageService(session_factory)
        self._clock = clock
        self._on_alarm_stored = on_alarm_stored
        self._pausers: set[str] = set()
        self._client = AsyncMqttClient(
            endpoint,
            client_id=client_id,
            protocol="5" if protocol == "5" else "3.1.1",
            # A persistent session: what arrives while we are away waits for us at the broker.
            clean_start=False,
            session_expiry_s=session_expiry_s,
            keepalive_s=keepalive_s,
            manual_ack=True,
            on_message=self._receive,
        )
        self._alarms = _BoundedQueue(
            "alarm", ALARM_QUEUE_LIMIT, lambda: self._pause("alarm"), lambda: self._resume("alarm")
        )
        self._telemetry = _BoundedQueue(
            "telemetry", TELEMETRY_QUEUE_LIMIT, lambda: self._pause("telemetry"), lambda: self._resume("telemetry")
        )
        self.received = 0

    async def connect(self) -> None:
        """First connection; raises MqttError with a clear message if the broker is unreachable."""
        await self._client.connect()
        await self._subscribe(session_present=False)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(stay_connected(self._client, on_connected=self._subscribe, already_connected=True))
            tasks.create_task(self._alarm_worker(), name="gateway-alarms")
            tasks.create_task(self._presence_worker(), name="gateway-presence")

    async def close(self) -> None:
        await self._client.disconnect()

    async def _subscribe(self, session_present: bool) -> None:
        # Subscribe even when the session survived: it costs nothing and heals a lost subscription.
        granted = await self._client.subscribe([(self._topics.uplink_filter, 1)])
        if granted[0] >= 0x80:
            raise RuntimeError(f"broker refused the gateway's subscription to {self._topics.uplink_filter}")
        log.info("gateway subscribed to %s (session kept: %s)", self._topics.uplink_filter, session_present)

    def _pause(self, queue: str) -> None:
        self._pausers.add(queue)
        self._client.pause_reading()

    def _resume(self, queue: str) -> None:
        self._pausers.discard(queue)
        if not self._pausers:
            self._client.resume_reading()

    def _receive(self, message: IncomingMessage) -> None:
        self.received += 1
        item = Received(message, self._clock.now(), time.monotonic())
        uplink = self._topics.parse_uplink(message.topic)
        if uplink is not None and uplink.kind in ALARM_KINDS:
            self._alarms.put(item)  # acked after commit
        else:
            self._telemetry.put(item)
            self._client.ack(message)

    async def _alarm_worker(self) -> None:
        while True:
            item = await self._alarms.get()
            verdict = judge(self._topics, item.message.topic, item.message.payload, item.received_at)
            if isinstance(verdict, TelemetryMessage):  # judge gives telemetry only for telemetry topics
                raise AssertionError(f"alarm topic {item.message.topic!r} judged as telemetry")
            outcome = (
                verdict if isinstance(verdict, Rejection) else await self._store_alarm_until_committed(verdict, item)
            )
            self._client.ack(item.message)
            if isinstance(outcome, Rejection):
                self._count_rejection(outcome)
                continue
            assert isinstance(verdict, AlarmMessage)
            COMMIT_SECONDS.labels("alarm").observe(time.monotonic() - item.monotonic)
            BAND_MESSAGES.labels(verdict.kind, "duplicate" if outcome.duplicate else "accepted").inc()
            if verdict.malformed or verdict.clock_suspect:
                log.warning(
                    "alarm from band %s accepted despite: %s",
                    verdict.band,
                    "; ".join(verdict.problems) or "band clock not believable",
                )
            if outcome.created:
                # Ids and kinds only: personal data stays in the database.
                log.info("alarm %d raised: %s from band %s", outcome.alarm_id, verdict.kind, verdict.band)
            await self._send_alarm_received(outcome)
            if self._on_alarm_stored is not None and not outcome.duplicate:
                self._on_alarm_stored(outcome)

    async def _store_alarm_until_committed(self, message: AlarmMessage, item: Received) -> AlarmStored | Rejection:
        """An accepted alarm is retried until it commits: it is never dropped for a database fault."""
        backoff = Backoff(first_s=0.2, max_s=5.0)
        failures = 0
        while True:
            try:
                return await self._service.store_alarm(message, received_at=item.received_at)
            except IntakeRace:
                continue
            except (DBAPIError, OSError) as exc:
                DB_RETRIES.inc()
                failures += 1
                if failures == FAILURES_BEFORE_MINIMAL_PAYLOAD:
                    # Something in this payload may be what the database refuses: keep the alarm,
                    # drop the payload (its raw bytes stay in the log line below, truncated).
                    log.error(
                        "alarm from band %s: storing without its payload %r", message.band, item.message.payload[:200]
                    )
                    message = replace(message, payload={"unstorable": True}, malformed=True)
                delay = backoff.next_delay()
                log.error(
                    "cannot commit alarm from band %s (%s); retrying in %.1f s", message.band, type(exc).__name__, delay
                )
                await asyncio.sleep(delay)

    async def _send_alarm_received(self, stored: AlarmStored) -> None:
        payload = {"v": 1, "msg_id": stored.message_id, "ts": self._clock.now().isoformat()}
        if stored.alarm_id is not None:
            payload["alarm_id"] = stored.alarm_id
        try:
            # No wait for the PUBACK: if it is lost, the band repeats the alarm and we answer again.
            await self._client.publish(
                self._topics.downlink(stored.band, "alarm_received"), json.dumps(payload).encode(), qos=1, timeout=None
            )
        except Exception as exc:
            log.warning("alarm_received to band %s not sent (%s); the band will repeat", stored.band, exc)

    async def _presence_worker(self) -> None:
        """Coalesce heartbeats: one write per band per flush, not a row per heartbeat."""
        while True:
            await asyncio.sleep(PRESENCE_FLUSH_S)
            items = self._telemetry.take_all()
            if not items:
                continue
            latest: dict[str, tuple[TelemetryMessage, datetime]] = {}
            kinds_by_band: dict[str, list[str]] = {}
            for item in items:
                verdict = judge(self._topics, item.message.topic, item.message.payload, item.received_at)
                if isinstance(verdict, Rejection):
                    self._count_rejection(verdict)
                elif isinstance(verdict, TelemetryMessage):
                    latest[verdict.band] = (verdict, item.received_at)
                    kinds_by_band.setdefault(verdict.band, []).append(verdict.kind)
            if latest:
                await self._store_presence_until_committed(latest, kinds_by_band)

    async def _store_presence_until_committed(
        self, latest: dict[str, tuple[TelemetryMessage, datetime]], kinds_by_band: dict[str, list[str]]
    ) -> None:
        backoff = Backoff(first_s=0.5, max_s=10.0)
        while True:
            try:
                rejections = await self._service.store_presence(latest)
                break
            except (DBAPIError, OSError) as exc:
                DB_RETRIES.inc()
                delay = backoff.next_delay()
                log.error("cannot write presence (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
        unknown = {rejection.band for rejection in rejections}
        for band, kinds in kinds_by_band.items():
            for kind in kinds:
                if band in unknown:
                    self._count_rejection(Rejection("unknown_band", f"no band {band!r} is registered", band, kind))
                else:
                    BAND_MESSAGES.labels(kind, "accepted").inc()

    def _count_rejection(self, rejection: Rejection) -> None:
        BAND_MESSAGES.labels(_kind_label(rejection.kind), f"rejected_{rejection.reason}").inc()
        log.info("band message rejected (%s): %s", rejection.reason, rejection.detail)
