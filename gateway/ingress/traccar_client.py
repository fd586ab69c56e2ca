"""Reading Traccar's forwarded events and positions from the platform's MQTT broker.

Its own connection and persistent session, QoS 1, acked by hand: a message that raises an alarm
is acked only once the alarm is committed, so if we die first the broker (Mosquitto) gives it
again. Traccar's HTTP forwarding tries once and forgets, so MQTT is the supported path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from core.mqtt.client import AsyncMqttClient, IncomingMessage
from core.mqtt.endpoint import MqttEndpoint
from core.mqtt.reconnect import stay_connected
from core.settings import TraccarSettings
from gateway.ingress.directory import DeviceDirectory
from gateway.ingress.metrics import INGRESS_MESSAGES
from gateway.ingress.traccar import ADAPTER, Refused, decode_json, map_traccar
from gateway.queues import Origin
from gateway.runner import Gateway

log = logging.getLogger(__name__)

# Messages waiting to be mapped before the connection stops reading (back-pressure to the broker).
QUEUE_LIMIT = 5000


def _count(result: str) -> None:
    INGRESS_MESSAGES.labels(ADAPTER, result).inc()


class TraccarIngress:
    def __init__(
        self,
        settings: TraccarSettings,
        gateway: Gateway,
        directory: DeviceDirectory,
        *,
        endpoint: MqttEndpoint,
        topic_root: str,
        client_id: str,
        protocol: str,
        session_expiry_s: int,
        keepalive_s: int,
        battery_low_pct: int = 20,
    ) -> None:
        self._gateway = gateway
        self._directory = directory
        self._battery_low_pct = battery_low_pct
        self.filters = [f"{topic_root}/{settings.events_topic}"]
        if settings.positions_topic:
            self.filters.append(f"{topic_root}/{settings.positions_topic}")
        self._client = AsyncMqttClient(
            endpoint,
            client_id=client_id,
            protocol="5" if protocol == "5" else "3.1.1",
            clean_start=False,
            session_expiry_s=session_expiry_s,
            keepalive_s=keepalive_s,
            manual_ack=True,
            on_message=self._receive,
        )
        self._queue: deque[IncomingMessage] = deque()
        self._ready = asyncio.Event()
        self._paused = False
        self._unknown_logged: dict[str, float] = {}

    async def connect(self) -> None:
        await self._client.connect()
        await self._subscribe(session_present=False)

    async def _subscribe(self, session_present: bool) -> None:
        granted = await self._client.subscribe([(f, 1) for f in self.filters])
        for topic_filter, code in zip(self.filters, granted, strict=True):
            if code >= 0x80:
                raise RuntimeError(f"broker refused the Traccar subscription to {topic_filter}")
        log.info("Traccar adapter subscribed to %s (session kept: %s)", ", ".join(self.filters), session_present)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(stay_connected(self._client, on_connected=self._subscribe, already_connected=True))
            tasks.create_task(self._work())

    async def close(self) -> None:
        await self._client.disconnect()

    def _receive(self, message: IncomingMessage) -> None:
        self._queue.append(message)
        self._ready.set()
        if len(self._queue) >= QUEUE_LIMIT and not self._paused:
            self._paused = True
            self._client.pause_reading()

    async def _work(self) -> None:
        while True:
            while not self._queue:
                self._ready.clear()
                await self._ready.wait()
            message = self._queue.popleft()
            if self._paused and len(self._queue) <= QUEUE_LIMIT // 2:
                self._paused = False
                self._client.resume_reading()
            try:
                await self._handle(message)
            except Exception:
                # Unacked: the broker gives it again on the next connection.
                log.exception("Traccar adapter: a message on %s failed", message.topic[:200])
                _count("refused_error")

    async def _handle(self, message: IncomingMessage) -> None:
        data = decode_json(message.payload)
        if isinstance(data, Refused):
            self._refused(message, data)
            return
        mapped = map_traccar(data, received_at=self._gateway.now(), battery_low_pct=self._battery_low_pct)
        if isinstance(mapped, Refused):
            self._refused(message, mapped)
            return
        band = await self._directory.band_for(mapped.unique_id)
        if band is None:
            self._log_unknown(mapped.unique_id)
            self._refused(message, Refused("unknown_device", mapped.unique_id))
            return
        for reason in mapped.ignored:
            _count(f"ignored_{reason}")
        if mapped.events or mapped.heard:
            _count("accepted")
        alarms = [e for e in mapped.events if e.kind in ("sos", "fall")]
        left = [len(alarms)]

        def on_done(outcome: Any) -> None:
            # Acked once every alarm in it is stored (or finally refused, e.g. the band was retired
            # meanwhile: counted and kept as a dead letter by the gateway).
            left[0] -= 1
            if left[0] == 0:
                self._client.ack(message)

        for event in mapped.events:
            is_alarm = event.kind in ("sos", "fall")
            origin = Origin(ADAPTER, on_done if is_alarm else None, event.problems, mapped.source if is_alarm else {})
            self._gateway.ingest(band, event.kind, event.payload, origin)
        if mapped.heard:
            self._gateway.heard(band)
        if not alarms:
            # Telemetry is acked once queued, as on the MQTT path.
            self._client.ack(message)

    def _log_unknown(self, unique_id: str) -> None:
        # Once a minute per device: a tracker nobody registered reports every few seconds.
        now = time.monotonic()
        if now - self._unknown_logged.get(unique_id, -1e9) > 60:
            if len(self._unknown_logged) > 10_000:
                self._unknown_logged.clear()
            self._unknown_logged[unique_id] = now
            log.warning(
                "Traccar device %s is not registered: ignored (opaska band register --adapter traccar)",
                unique_id[:64],
            )

    def _refused(self, message: IncomingMessage, refused: Refused) -> None:
        _count(f"refused_{refused.reason}")
        log.debug("Traccar message on %s refused: %s (%s)", message.topic[:200], refused.reason, refused.detail[:200])
        self._client.ack(message)
