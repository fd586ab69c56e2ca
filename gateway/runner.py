"""The gateway process: MQTT in, judged, committed, then acked; downlink out.

Alarm-class messages (sos, fall, fall_cancel) and telemetry go to separate queues with separate
workers, so an SOS never waits behind heartbeats. An alarm's PUBACK is sent only after its commit:
if we die first, a persistent-session broker (Mosquitto) redelivers it, and the band repeats it
until `alarm_received` in any case. Telemetry is acked as soon as it is queued, so held acks never
fill the broker's in-flight window ahead of an SOS, and it is written in batches (presence is
coalesced: one row update per band per second, however many heartbeats).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import IntakeRace
from alarm_center.escalation.policy import PolicySource
from core import health
from core.clock import Clock
from core.mqtt.client import AsyncMqttClient, IncomingMessage, MqttError
from core.mqtt.endpoint import MqttEndpoint
from core.mqtt.reconnect import Backoff, stay_connected
from core.settings import AlarmSettings, BandSettings
from gateway.canary import Canary, canary_topic
from gateway.downlink import DownlinkSender
from gateway.judge import (
    AlarmMessage,
    Reason,
    Rejection,
    StatusMessage,
    TelemetryMessage,
    judge,
    minimal_alarm,
)
from gateway.liveness import keep_alive
from gateway.metrics import BAND_MESSAGES, COMMIT_SECONDS, DB_RETRIES, REDELIVERED
from gateway.payloads import ALARM_KINDS, PRIORITY_KINDS, STATUS_KIND, TELEMETRY_MODELS
from gateway.presence import PresenceBatch
from gateway.queues import BoundedQueue, Origin, Received
from gateway.reject_log import RejectLog
from gateway.service import AlarmStored, BandMessageService, ReportsStored, unknown_band
from gateway.test_hooks import hold_before_commit_if_asked
from gateway.topics import TopicScheme
from registry.traffic import downlinks as downlink
from registry.traffic.dead_letters import DeadLetterEntry

log = logging.getLogger(__name__)

ALARM_QUEUE_LIMIT = 10_000
TELEMETRY_QUEUE_LIMIT = 20_000
PRESENCE_FLUSH_S = 1.0
FAILURES_BEFORE_MINIMAL_PAYLOAD = 3
# Reports judged between two turns of the event loop when a batch is flushed (a turn costs ~20 µs).
YIELD_EVERY = 20


def _kind_label(kind: str | None) -> str:
    # Only known kinds become label values: a hostile topic must not create unbounded series.
    return kind if kind in PRIORITY_KINDS or kind in TELEMETRY_MODELS or kind == STATUS_KIND else "other"


@dataclass(frozen=True)
class _Judged:
    item: Received
    verdict: AlarmMessage | TelemetryMessage | StatusMessage | Rejection


def _with_origin(message: AlarmMessage, origin: Origin) -> AlarmMessage:
    """The alarm with its adapter's doubts flagged and its source kept beside the payload."""
    payload = {**message.payload, "source": origin.source} if origin.source else message.payload
    problems = [*message.problems, *origin.problems]
    return replace(message, payload=payload, problems=problems, malformed=message.malformed or bool(origin.problems))


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
        bands: BandSettings | None = None,
        alarms: AlarmSettings | None = None,
        on_alarm_stored: Callable[[AlarmStored], None] | None = None,
        canary_every_s: float = 5.0,
        canary_deaf_after_s: float = 20.0,
        policies: PolicySource | None = None,
    ) -> None:
        self._topics = topics
        self._sessions = session_factory
        self._clock = clock
        self._client_id = client_id
        self._bands = bands or BandSettings()
        self._service = BandMessageService(
            session_factory, test_pass_latency_ms=self._bands.test_pass_latency_ms, policies=policies
        )
        self._alarm_settings = alarms or AlarmSettings()
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
        # The priority lane: alarms come on a connection (and a persistent session) of their own,
        # so an SOS is never queued behind heartbeats in the broker or in the socket, nor held
        # when the telemetry queue is full and its connection stops reading.
        self._alarm_client = AsyncMqttClient(
            endpoint,
            client_id=f"{client_id}-alarms",
            protocol="5" if protocol == "5" else "3.1.1",
            clean_start=False,
            session_expiry_s=session_expiry_s,
            keepalive_s=keepalive_s,
            manual_ack=True,
            on_message=self._receive_alarm,
        )
        self._canaries = {
            lane: Canary(
                client,
                topic=canary_topic(topics.root, client.client_id),
                lane=lane,
                clock=clock,
                every_s=canary_every_s,
                deaf_after_s=canary_deaf_after_s,
            )
            for lane, client in (("main", self._client), ("alarm", self._alarm_client))
        }
        self._alarms = BoundedQueue(
            "alarm", ALARM_QUEUE_LIMIT, lambda: self._pause("alarm"), lambda: self._resume("alarm")
        )
        self._telemetry = BoundedQueue(
            "telemetry", TELEMETRY_QUEUE_LIMIT, lambda: self._pause("telemetry"), lambda: self._resume("telemetry")
        )
        self._downlink = DownlinkSender(session_factory, self._client, topics, clock)
        self._dead_letters: list[DeadLetterEntry] = []
        self._reject_log = RejectLog(self._bands.reject_log_every_s)
        self._connected_since: datetime | None = None
        self._reports_healthy_since: datetime | None = clock.now()
        # Bands an ingress adapter heard from without a report to show for it (a bare keepalive).
        self._heard: list[tuple[str, datetime]] = []
        # Every message received ends in exactly one of: accepted, duplicate, rejected.
        self.received = 0
        self.tally: Counter[str] = Counter()

    async def connect(self) -> None:
        """First connection; raises MqttError with a clear message if the broker is unreachable."""
        await self._alarm_client.connect()
        await self._subscribe_alarms(session_present=False)
        await self._client.connect()
        await self._subscribe(session_present=False)

    async def run(self) -> None:
        # Each loop is watched by /readyz: a TaskGroup carries on when one child is cancelled.
        watch = health.PROCESS.watch
        async with asyncio.TaskGroup() as tasks:
            watch(
                tasks.create_task(
                    stay_connected(self._client, on_connected=self._subscribe, already_connected=True),
                    name="gateway-connection",
                )
            )
            watch(
                tasks.create_task(
                    stay_connected(self._alarm_client, on_connected=self._subscribe_alarms, already_connected=True),
                    name="gateway-alarm-connection",
                )
            )
            watch(tasks.create_task(self._alarm_worker(), name="gateway-alarms"))
            watch(tasks.create_task(self._report_worker(), name="gateway-reports"))
            watch(tasks.create_task(self._downlink.run(), name="gateway-downlink"))
            watch(
                tasks.create_task(
                    keep_alive(
                        self._sessions,
                        self._clock,
                        name=self._client_id,
                        connected_since=self._current_connection_start,
                        deaf_since=self._deaf_since,
                        bands=self._bands,
                    ),
                    name="gateway-liveness",
                )
            )
            for canary in self._canaries.values():
                watch(tasks.create_task(canary.run(), name=f"gateway-canary-{canary.lane}"))

    async def close(self) -> None:
        await self._client.disconnect()
        await self._alarm_client.disconnect()

    async def broker_state(self) -> str:
        """For /readyz: "ok" while connected and subscribed to the broker, and hearing its canaries."""
        if not (self._client.is_connected and self._connected_since is not None and self._alarm_client.is_connected):
            return f"unreachable: not connected to {self._client.endpoint}"
        for canary in self._canaries.values():
            state = await canary.state()
            if state != "ok":
                return state
        return "ok"

    def _deaf_since(self) -> datetime | None:
        """Since when a connection of this gateway hears nothing through the broker; None while all do."""
        times = [c.deaf_since for c in self._canaries.values() if c.deaf_since is not None]
        return min(times) if times else None

    def _current_connection_start(self) -> datetime | None:
        """Since when band presence is being heard AND written; None while either is not."""
        if not self._client.is_connected or self._connected_since is None or self._reports_healthy_since is None:
            return None
        if self._canaries["main"].deaf_since is not None:
            # Connected but deaf hears no band either: no band may be judged offline meanwhile.
            return None
        return max(self._connected_since, self._reports_healthy_since)

    async def _subscribe(self, session_present: bool) -> None:
        # Subscribe even when the session survived: it costs nothing and heals a lost subscription.
        canary = self._canaries["main"]
        filters = [(self._topics.uplink_filter, 1), (self._topics.status_filter, 1), (canary.topic, 1)]
        granted = await self._client.subscribe(filters)
        for (topic_filter, _), code in zip(filters, granted, strict=True):
            if code >= 0x80:
                # Set-up failed: the reconnect loop starts over with backoff rather than the gateway dying.
                raise MqttError(f"broker refused the gateway's subscription to {topic_filter}")
        canary.listening()
        self._connected_since = self._clock.now()
        self._downlink.wake.set()
        log.info("gateway subscribed to %s (session kept: %s)", self._topics.uplink_filter, session_present)

    async def _subscribe_alarms(self, session_present: bool) -> None:
        canary = self._canaries["alarm"]
        filters = [(self._topics.uplink("+", kind), 1) for kind in sorted(PRIORITY_KINDS)]
        filters.append((canary.topic, 1))
        granted = await self._alarm_client.subscribe(filters)
        for (topic_filter, _), code in zip(filters, granted, strict=True):
            if code >= 0x80:
                # Set-up failed: the reconnect loop starts over with backoff rather than the gateway dying.
                raise MqttError(f"broker refused the gateway's subscription to {topic_filter}")
        canary.listening()
        log.info("gateway alarm lane subscribed (session kept: %s)", session_present)

    def _pause(self, queue: str) -> None:
        # Each queue holds back only its own connection: a full telemetry queue never stops alarms.
        self._pausers.add(queue)
        (self._alarm_client if queue == "alarm" else self._client).pause_reading()

    def _resume(self, queue: str) -> None:
        self._pausers.discard(queue)
        (self._alarm_client if queue == "alarm" else self._client).resume_reading()

    def _is_alarm_topic(self, topic: str) -> bool:
        # The last level first: most messages are heartbeats, and only an alarm kind needs the full parse.
        if topic.rpartition("/")[2] not in PRIORITY_KINDS:
            return False
        band_topic = self._topics.parse_band_topic(topic)
        return band_topic is not None and not band_topic.is_status and band_topic.kind in PRIORITY_KINDS

    def _receive_alarm(self, message: IncomingMessage) -> None:
        """The priority lane: alarm kinds only, acked after commit."""
        if message.topic == self._canaries["alarm"].topic:
            self._canaries["alarm"].hear(message)
            return
        if not self._is_alarm_topic(message.topic):
            self._alarm_client.ack(message)  # not ours: the main connection has it too
            return
        self.received += 1
        if message.dup:
            REDELIVERED.inc()
            log.info("message redelivered by the broker (dup) on %s", message.topic[:200])
        self._alarms.put(Received(message, self._clock.now(), time.monotonic()))

    def _receive(self, message: IncomingMessage) -> None:
        if message.topic == self._canaries["main"].topic:
            self._canaries["main"].hear(message)
            return
        if self._is_alarm_topic(message.topic):
            # The priority lane's persistent session holds this alarm until it is committed: this
            # copy (the main connection's `up/#` also matches it) is acked and left.
            self._client.ack(message)
            return
        self.received += 1
        if message.dup:
            REDELIVERED.inc()
            log.info("message redelivered by the broker (dup) on %s", message.topic[:200])
        self._telemetry.put(Received(message, self._clock.now(), time.monotonic()))
        self._client.ack(message)

    # --- ingress adapters -----------------------------------------------------------------

    def ingest(self, band: str, kind: str, payload: dict[str, Any], origin: Origin) -> None:
        """A band message an ingress adapter normalised, in the MQTT protocol's own words.

        It takes the MQTT path from here: the same judging (schema, clock, flags), the same
        queues (alarm kinds ahead of telemetry), dedup by (band, msg_id), presence and metrics.
        `kind` "status" is the band's online/offline status.
        """
        topic = self._topics.status(band) if kind == STATUS_KIND else self._topics.uplink(band, kind)
        raw = json.dumps(payload, separators=(",", ":")).encode()
        # Generation -1: no broker connection delivered it, so nothing is ever acked to one.
        message = IncomingMessage(topic, raw, qos=1, retain=False, dup=False, mid=0, generation=-1)
        item = Received(message, self._clock.now(), time.monotonic(), origin)
        self.received += 1
        (self._alarms if kind in PRIORITY_KINDS else self._telemetry).put(item)

    def route_downlink(self, route: Callable[[str, str, dict[str, Any]], bool]) -> None:
        """Let an ingress adapter deliver the downlinks of bands it speaks to itself (e.g. `locate`
        to a connected watch as its own command); `route` returns False for any it cannot."""
        self._downlink.routes.append(route)

    def now(self) -> datetime:
        """The gateway's clock: adapters stamp what they receive with it."""
        return self._clock.now()

    def heard(self, band: str) -> None:
        """The band is alive (e.g. a watch's bare keepalive): presence only, nothing to judge."""
        self._heard.append((band, self._clock.now()))

    def _done(self, item: Received, outcome: AlarmStored | Rejection) -> None:
        """Acknowledge an alarm to whoever sent it, after its commit (or refusal)."""
        if item.origin is None:
            self._alarm_client.ack(item.message)
        elif item.origin.on_done is not None:
            try:
                item.origin.on_done(outcome)
            except Exception:
                log.exception("%s adapter: acknowledging an alarm failed", item.origin.adapter)

    # --- outcomes -------------------------------------------------------------------------

    def _accepted(self, kind: str, *, duplicate: bool = False) -> None:
        result = "duplicate" if duplicate else "accepted"
        self.tally[result] += 1
        BAND_MESSAGES.labels(_kind_label(kind), result).inc()

    def _rejected(self, rejection: Rejection, item: Received) -> None:
        self.tally["rejected"] += 1
        BAND_MESSAGES.labels(_kind_label(rejection.kind), f"rejected_{rejection.reason}").inc()
        self._reject_log.rejected(rejection)
        self._dead_letters.append(
            DeadLetterEntry(
                received_at=item.received_at,
                topic=item.message.topic,
                payload=item.message.payload,
                reason=rejection.reason,
                detail=rejection.detail,
                band=rejection.band,
                kind=rejection.kind,
            )
        )

    # --- alarms ---------------------------------------------------------------------------

    async def _alarm_worker(self) -> None:
        while True:
            item = await self._alarms.get()
            try:
                await self._handle_alarm(item)
            except Exception:
                # Nothing a band sends may stop this loop. The message is acked only by
                # _handle_alarm, after a commit: if we got here first, the broker and the band's
                # repeats still hold it.
                log.exception("alarm worker: unexpected error on %s; carrying on", item.message.topic[:200])

    def _judge_alarm_topic(self, item: Received) -> AlarmMessage | TelemetryMessage | StatusMessage | Rejection:
        try:
            return judge(self._topics, item.message.topic, item.message.payload, item.received_at)
        except Exception:
            log.exception("judging a message on %s failed; taking it as a bare alarm", item.message.topic[:200])
            band_topic = self._topics.parse_band_topic(item.message.topic)
            assert band_topic is not None  # only alarm topics reach this queue
            if band_topic.kind in ALARM_KINDS:
                return minimal_alarm(band_topic.band, band_topic.kind, item.message.payload, item.received_at)
            return Rejection(Reason.MALFORMED, "could not be judged", band_topic.band, band_topic.kind)

    async def _handle_alarm(self, item: Received) -> None:
        verdict = self._judge_alarm_topic(item)
        if isinstance(verdict, StatusMessage):  # a status topic never lands in this queue
            raise AssertionError(f"unexpected message in the alarm queue: {item.message.topic!r}")
        if isinstance(verdict, AlarmMessage) and item.origin is not None:
            verdict = _with_origin(verdict, item.origin)
        outcome: AlarmStored | Rejection
        if isinstance(verdict, Rejection):
            outcome = verdict
        else:
            await hold_before_commit_if_asked(item.message.topic)
            outcome = await self._store_until_committed(verdict, item)
        self._done(item, outcome)
        if isinstance(outcome, Rejection):
            self._rejected(outcome, item)
            return
        COMMIT_SECONDS.labels("alarm").observe(time.monotonic() - item.monotonic)
        self._accepted(outcome.kind, duplicate=outcome.duplicate)
        if isinstance(verdict, AlarmMessage):
            if verdict.names_other_band is not None:
                log.warning(
                    "SECURITY: alarm on band %s's topic names band %r: raised for %s, check the band and the ACL",
                    verdict.band,
                    verdict.names_other_band,
                    verdict.band,
                )
            if verdict.malformed or verdict.clock_suspect:
                log.warning(
                    "alarm from band %s accepted despite: %s",
                    verdict.band,
                    "; ".join(verdict.problems) or "band clock not believable",
                )
        if outcome.created:
            # Ids and kinds only: personal data stays in the database.
            log.info("alarm %d raised: %s from band %s", outcome.alarm_id, outcome.kind, outcome.band)
        elif outcome.cancel is not None:
            log.info("fall cancel from band %s: %s (alarm %s)", outcome.band, outcome.cancel, outcome.alarm_id)
        if item.origin is None:
            await self._send_alarm_received(outcome)
        if self._on_alarm_stored is not None and not outcome.duplicate:
            self._on_alarm_stored(outcome)

    async def _store(self, message: AlarmMessage | TelemetryMessage, item: Received) -> AlarmStored | Rejection:
        if isinstance(message, AlarmMessage):
            return await self._service.store_alarm(message, received_at=item.received_at)
        return await self._service.store_fall_cancel(
            message,
            received_at=item.received_at,
            window=timedelta(seconds=self._bands.fall_cancel_window_s),
            needs_verification=self._alarm_settings.cancel_needs_verification,
        )

    async def _store_until_committed(
        self, message: AlarmMessage | TelemetryMessage, item: Received
    ) -> AlarmStored | Rejection:
        """An accepted alarm is retried until it commits: it is never dropped for a database fault.

        If the database keeps refusing it (or storing it fails in any other way), something in the
        message itself may be what it refuses: an alarm is then stored bare (kind, band, time of
        receipt and a derived id), a fall cancel is refused (the fall stays open: the safe side).
        """
        backoff = Backoff(first_s=0.2, max_s=5.0)
        failures = 0
        while True:
            try:
                return await self._store(message, item)
            except IntakeRace:
                await asyncio.sleep(0)
                continue
            except Exception as exc:
                failures += 1
                is_database = isinstance(exc, DBAPIError | OSError)
                if is_database:
                    DB_RETRIES.inc()
                else:
                    log.exception("storing %s from band %s failed", message.kind, message.band)
                if failures >= FAILURES_BEFORE_MINIMAL_PAYLOAD or not is_database:
                    if isinstance(message, TelemetryMessage):
                        if not is_database or isinstance(exc, DataError | IntegrityError):
                            return Rejection(
                                Reason.INVALID, f"not storable: {type(exc).__name__}", message.band, message.kind
                            )
                    elif not message.payload.get("unstorable"):
                        # The payload is not logged (it may hold the resident's location): its size
                        # and hash identify it, the band's repeats carry it.
                        log.error(
                            "alarm from band %s: storing it without its payload (%d bytes, sha256 %s)",
                            message.band,
                            len(item.message.payload),
                            hashlib.sha256(item.message.payload).hexdigest()[:16],
                        )
                        message = minimal_alarm(message.band, message.kind, item.message.payload, item.received_at)
                        continue
                delay = backoff.next_delay()
                log.error(
                    "cannot commit %s from band %s (%s); retrying in %.1f s",
                    message.kind,
                    message.band,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _send_alarm_received(self, stored: AlarmStored) -> None:
        payload = downlink.alarm_received(msg_id=stored.message_id, alarm_id=stored.alarm_id, at=self._clock.now())
        try:
            # No wait for the PUBACK: if it is lost, the band repeats the alarm and we answer again.
            await self._client.publish(
                self._topics.downlink(stored.band, "alarm_received"), json.dumps(payload).encode(), qos=1, timeout=None
            )
        except Exception as exc:
            log.warning("alarm_received to band %s not sent (%s); the band will repeat", stored.band, exc)

    # --- telemetry ------------------------------------------------------------------------

    async def _report_worker(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_FLUSH_S)
            items = self._telemetry.take_all()
            if items or self._dead_letters or self._heard:
                try:
                    await self._flush_reports(items)
                except Exception:
                    # Reports are acked already; losing one batch to a bug beats stopping them all.
                    log.exception("report worker: a batch of %d reports failed; carrying on", len(items))

    def _judge_report(self, item: Received) -> AlarmMessage | TelemetryMessage | StatusMessage | Rejection:
        try:
            return judge(self._topics, item.message.topic, item.message.payload, item.received_at)
        except Exception:
            log.exception("judging a message on %s failed", item.message.topic[:200])
            return Rejection(Reason.MALFORMED, "could not be judged")

    async def _flush_reports(self, items: list[Received]) -> None:
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
            verdict = self._judge_report(item)
            if isinstance(verdict, Rejection):
                self._rejected(verdict, item)
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
        dead_letters, self._dead_letters = self._dead_letters, []
        stored = await self._store_reports_until_committed(batch, dead_letters)
        # Counted per batch, not per message: a labelled metric's lookup costs more than the count.
        outcomes: Counter[tuple[str, str]] = Counter()
        telemetry_seconds = COMMIT_SECONDS.labels("telemetry")
        now = time.monotonic()
        for entry in judged:
            verdict = entry.verdict
            assert isinstance(verdict, TelemetryMessage | StatusMessage)
            kind = verdict.kind if isinstance(verdict, TelemetryMessage) else STATUS_KIND
            if verdict.band in stored.unknown_bands:
                self._rejected(unknown_band(verdict.band, kind), entry.item)
            else:
                duplicate = (
                    isinstance(verdict, TelemetryMessage) and (verdict.band, verdict.message_id) in stored.duplicates
                )
                outcomes[_kind_label(kind), "duplicate" if duplicate else "accepted"] += 1
                telemetry_seconds.observe(now - entry.item.monotonic)
        for (kind_label, result), count in outcomes.items():
            self.tally[result] += count
            BAND_MESSAGES.labels(kind_label, result).inc(count)

    async def _store_reports_until_committed(
        self, batch: PresenceBatch, dead_letters: list[DeadLetterEntry]
    ) -> ReportsStored:
        backoff = Backoff(first_s=0.5, max_s=10.0)
        while True:
            try:
                stored = await self._service.store_reports(
                    batch, dead_letters, dead_letter_keep=self._bands.dead_letter_keep
                )
                if self._reports_healthy_since is None:
                    # Presence is being written again: supervision's offline clock restarts here.
                    self._reports_healthy_since = self._clock.now()
                return stored
            except (DBAPIError, OSError) as exc:
                # Until presence is written again, what the database says about bands is stale.
                self._reports_healthy_since = None
                DB_RETRIES.inc()
                delay = backoff.next_delay()
                log.error("cannot write band reports (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
