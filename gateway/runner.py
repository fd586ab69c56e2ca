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
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.escalation.policy import PolicySource
from core import health
from core.clock import Clock
from core.mqtt.client import AsyncMqttClient, IncomingMessage, MqttError
from core.mqtt.endpoint import MqttEndpoint
from core.mqtt.reconnect import platform_backoff, stay_connected
from core.settings import AlarmSettings, BandSettings
from gateway.alarm_batch import CancelRules
from gateway.alarm_commit import BatchItem, log_stored, store_batch_until_committed
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
from gateway.metrics import COMMIT_SECONDS, REDELIVERED
from gateway.outcomes import Outcomes
from gateway.payloads import ALARM_KINDS, PRIORITY_KINDS, STATUS_KIND
from gateway.queues import BoundedQueue, Origin, Received, with_origin
from gateway.reject_log import RejectLog
from gateway.report_lane import ReportLane
from gateway.service import BandMessageService
from gateway.stored import AlarmStored
from gateway.test_hooks import hold_before_commit_if_asked
from gateway.topics import TopicScheme, shared
from registry.traffic import downlinks as downlink

log = logging.getLogger(__name__)

ALARM_QUEUE_LIMIT = 10_000
# At most this many alarm messages per transaction: a storm is stored in a few hundred
# milliseconds per batch (docs/performance.md, B3), and a batch the database refuses is halved.
ALARM_BATCH_LIMIT = 500
TELEMETRY_QUEUE_LIMIT = 20_000


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
        shared_group: str = "",
    ) -> None:
        self._topics = topics
        # Several gateways of one group each get a share of the band traffic; the alarm lane is a
        # group of its own, so an SOS always reaches some gateway's alarm lane.
        self._shared_group = shared_group
        self._sessions = session_factory
        self._clock = clock
        self._client_id = client_id
        self._bands = bands or BandSettings()
        self._service = BandMessageService(
            session_factory, test_pass_latency_ms=self._bands.test_pass_latency_ms, policies=policies
        )
        alarm_settings = alarms or AlarmSettings()
        self._cancel_rules = CancelRules(
            window=timedelta(seconds=self._bands.fall_cancel_window_s),
            needs_verification=alarm_settings.cancel_needs_verification,
        )
        self._on_alarm_stored = on_alarm_stored
        self._pausers: set[str] = set()

        def connection(suffix: str, on_message: Callable[[IncomingMessage], None]) -> AsyncMqttClient:
            # A persistent session: what arrives while we are away waits for us at the broker.
            # Acked by hand: an alarm only after its commit.
            return AsyncMqttClient(
                endpoint,
                client_id=client_id + suffix,
                protocol="5" if protocol == "5" else "3.1.1",
                clean_start=False,
                session_expiry_s=session_expiry_s,
                keepalive_s=keepalive_s,
                manual_ack=True,
                on_message=on_message,
            )

        self._client = connection("", self._receive)
        # The priority lane: alarms come on a connection (and a persistent session) of their own,
        # so an SOS is never queued behind heartbeats in the broker or in the socket, nor held
        # when the telemetry queue is full and its connection stops reading.
        self._alarm_client = connection("-alarms", self._receive_alarm)
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
        self._connected_since: datetime | None = None
        # Every message received ends in exactly one of: accepted, duplicate, rejected.
        self.received = 0
        self._outcomes = Outcomes(RejectLog(self._bands.reject_log_every_s))
        self._reports = ReportLane(
            queue=self._telemetry,
            service=self._service,
            topics=topics,
            clock=clock,
            bands=self._bands,
            outcomes=self._outcomes,
        )

    @property
    def tally(self) -> Counter[str]:
        return self._outcomes.tally

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
                    stay_connected(
                        self._client, on_connected=self._subscribe, already_connected=True, backoff=platform_backoff()
                    ),
                    name="gateway-connection",
                )
            )
            watch(
                tasks.create_task(
                    stay_connected(
                        self._alarm_client,
                        on_connected=self._subscribe_alarms,
                        already_connected=True,
                        backoff=platform_backoff(),
                    ),
                    name="gateway-alarm-connection",
                )
            )
            watch(tasks.create_task(self._alarm_worker(), name="gateway-alarms"))
            watch(tasks.create_task(self._reports.run(), name="gateway-reports"))
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
        healthy_since = self._reports.healthy_since
        if not self._client.is_connected or self._connected_since is None or healthy_since is None:
            return None
        if self._canaries["main"].deaf_since is not None:
            # Connected but deaf hears no band either: no band may be judged offline meanwhile.
            return None
        return max(self._connected_since, healthy_since)

    async def _subscribe(self, session_present: bool) -> None:
        # Subscribe even when the session survived: it costs nothing and heals a lost subscription.
        canary = self._canaries["main"]
        group = self._shared_group
        filters = [
            (shared(self._topics.uplink_filter, group), 1),
            (shared(self._topics.status_filter, group), 1),
            (canary.topic, 1),
        ]
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
        group = self._shared_group and self._shared_group + "-alarms"
        filters = [(shared(self._topics.uplink("+", kind), group), 1) for kind in sorted(PRIORITY_KINDS)]
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
        self._reports.heard(band)

    def _done(self, item: Received, outcome: AlarmStored | Rejection) -> None:
        """Acknowledge an alarm to whoever sent it, after its commit (or refusal)."""
        if item.origin is None:
            self._alarm_client.ack(item.message)
        elif item.origin.on_done is not None:
            try:
                item.origin.on_done(outcome)
            except Exception:
                log.exception("%s adapter: acknowledging an alarm failed", item.origin.adapter)

    # --- alarms ---------------------------------------------------------------------------

    async def _alarm_worker(self) -> None:
        while True:
            # Whatever waits in the queue is stored together, in one transaction: a storm of
            # alarms costs a few statements per batch, a lone SOS is a batch of one.
            first = await self._alarms.get()
            items = [first, *self._alarms.take(ALARM_BATCH_LIMIT - 1)]
            try:
                await self._handle_alarms(items)
            except Exception:
                # Nothing a band sends may stop this loop. A message is acked only by
                # _handle_alarms, after a commit: if we got here first, the broker and the band's
                # repeats still hold it.
                log.exception("alarm worker: unexpected error on a batch of %d; carrying on", len(items))

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

    async def _handle_alarms(self, items: list[Received]) -> None:
        to_store: list[BatchItem] = []
        for item in items:
            verdict = self._judge_alarm_topic(item)
            if isinstance(verdict, StatusMessage):  # a status topic never lands in this queue
                raise AssertionError(f"unexpected message in the alarm queue: {item.message.topic!r}")
            if isinstance(verdict, Rejection):
                await self._finish(item, verdict, verdict)
                continue
            if isinstance(verdict, AlarmMessage) and item.origin is not None:
                verdict = with_origin(verdict, item.origin)
            await hold_before_commit_if_asked(item.message.topic)
            to_store.append((verdict, item))
        if not to_store:
            return
        outcomes = await store_batch_until_committed(self._store_batch, self._store, to_store)
        for (verdict, item), outcome in zip(to_store, outcomes, strict=True):
            await self._finish(item, verdict, outcome)

    async def _finish(
        self, item: Received, verdict: AlarmMessage | TelemetryMessage | Rejection, outcome: AlarmStored | Rejection
    ) -> None:
        """After the commit (or the refusal): ack, count, log, `alarm_received`, tell the console."""
        self._done(item, outcome)
        if isinstance(outcome, Rejection):
            self._outcomes.rejected(outcome, item)
            return
        COMMIT_SECONDS.labels("alarm").observe(time.monotonic() - item.monotonic)
        self._outcomes.accepted(outcome.kind, duplicate=outcome.duplicate)
        log_stored(verdict, outcome)
        if item.origin is None:
            await self._send_alarm_received(outcome)
        if self._on_alarm_stored is not None and not outcome.duplicate:
            self._on_alarm_stored(outcome)

    async def _store_batch(self, batch: list[BatchItem]) -> list[AlarmStored | Rejection]:
        return await self._service.store_alarm_batch(
            [(message, item.received_at) for message, item in batch], cancel=self._cancel_rules
        )

    async def _store(self, message: AlarmMessage | TelemetryMessage, item: Received) -> AlarmStored | Rejection:
        if isinstance(message, AlarmMessage):
            return await self._service.store_alarm(message, received_at=item.received_at)
        return await self._service.store_fall_cancel(message, received_at=item.received_at, cancel=self._cancel_rules)

    async def _send_alarm_received(self, stored: AlarmStored) -> None:
        payload = downlink.alarm_received(msg_id=stored.message_id, alarm_id=stored.alarm_id, at=self._clock.now())
        try:
            # No wait for the PUBACK: if it is lost, the band repeats the alarm and we answer again.
            await self._client.publish(
                self._topics.downlink(stored.band, "alarm_received"), json.dumps(payload).encode(), qos=1, timeout=None
            )
        except Exception as exc:
            log.warning("alarm_received to band %s not sent (%s); the band will repeat", stored.band, exc)
