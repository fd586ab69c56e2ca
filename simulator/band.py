"""A virtual band speaking the band protocol, as a real band must.

It repeats an unacknowledged alarm (same message id, with backoff) until the platform's
`alarm_received` for that id arrives: a broker's PUBACK only proves the broker has the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.mqtt.client import AsyncMqttClient, IncomingMessage, MqttError, Protocol, Will
from core.mqtt.endpoint import MqttEndpoint
from core.mqtt.reconnect import Backoff, stay_connected
from gateway.topics import TopicScheme

log = logging.getLogger(__name__)


@dataclass
class BandState:
    battery: int = 95
    charging: bool = False
    worn: bool = True
    signal: int = 80
    lat: float = 51.1079
    lon: float = 17.0385
    # Settings the platform sends in the retained `config` downlink.
    heartbeat_interval_s: float = 300.0
    fall_cancel_window_s: float = 30.0


@dataclass
class RepeatPolicy:
    first_s: float = 5.0
    max_s: float = 60.0


@dataclass
class VirtualBand:
    endpoint: MqttEndpoint
    topics: TopicScheme
    serial: str
    password: str | None = None
    protocol: Protocol = "3.1.1"
    repeat: RepeatPolicy = field(default_factory=RepeatPolicy)
    state: BandState = field(default_factory=BandState)

    def __post_init__(self) -> None:
        self._counter = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.downlink: list[tuple[str, dict[str, Any]]] = []
        self.sent: list[tuple[str, str]] = []  # (kind, msg_id), repeats included
        self._client: AsyncMqttClient | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._answers: set[asyncio.Future[Any]] = set()

    def _message_id(self) -> str:
        return f"{self.serial}-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}-{next(self._counter)}"

    async def start(self) -> None:
        """Connect (raises MqttError if refused), subscribe to the downlink, say we are online."""
        self._client = AsyncMqttClient(
            self.endpoint,
            client_id=f"band-{self.serial}",
            username=self.serial,
            password=self.password,
            protocol=self.protocol,
            will=Will(self.topics.status(self.serial), b'{"v":1,"online":false}'),
            on_message=self._on_message,
        )
        await self._client.connect()
        await self._on_connected(False)
        self._keeper = asyncio.create_task(
            stay_connected(
                self._client, on_connected=self._on_connected, already_connected=True, backoff=Backoff(1, 30)
            )
        )

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._client is not None:
            await self._client.disconnect()

    async def _on_connected(self, _session_present: bool) -> None:
        assert self._client is not None
        await self._client.subscribe([(self.topics.downlink_filter(self.serial), 1)])
        await self._client.publish(self.topics.status(self.serial), b'{"v":1,"online":true}', retain=True, timeout=None)

    def _on_message(self, message: IncomingMessage) -> None:
        kind = message.topic.rsplit("/", 1)[-1]
        try:
            payload = json.loads(message.payload)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        self.downlink.append((kind, payload))
        if kind == "alarm_received":
            waiter = self._waiting.get(str(payload.get("msg_id")))
            if waiter is not None and not waiter.done():
                waiter.set_result(payload)
        elif kind == "config":
            self._apply_config(payload)
        elif kind == "locate" and isinstance(payload.get("request_id"), str):
            # Answer from the loop, not from inside the client's read callback.
            self._answers.add(asyncio.ensure_future(self.report_location("locate", payload["request_id"])))

    def _apply_config(self, payload: dict[str, Any]) -> None:
        interval = payload.get("heartbeat_interval_s")
        if isinstance(interval, int | float) and interval > 0:
            self.state.heartbeat_interval_s = float(interval)
        window = payload.get("fall_cancel_window_s")
        if isinstance(window, int | float) and window >= 0:
            self.state.fall_cancel_window_s = float(window)

    def received(self, kind: str) -> list[dict[str, Any]]:
        """Downlink payloads of one kind, oldest first."""
        return [payload for got, payload in self.downlink if got == kind]

    async def publish(self, kind: str, fields: dict[str, Any] | None = None, *, msg_id: str | None = None) -> str:
        assert self._client is not None, "start() the band first"
        msg_id = msg_id or self._message_id()
        payload = {"v": 1, "msg_id": msg_id, "ts": datetime.now(UTC).isoformat(), **(fields or {})}
        self.sent.append((kind, msg_id))
        await self._client.publish(
            self.topics.uplink(self.serial, kind), json.dumps(payload).encode(), qos=1, timeout=None
        )
        return msg_id

    async def heartbeat(self) -> str:
        s = self.state
        return await self.publish(
            "heartbeat", {"battery": s.battery, "charging": s.charging, "worn": s.worn, "signal": s.signal}
        )

    async def report_location(self, reason: str = "periodic", request_id: str | None = None) -> str:
        fields: dict[str, Any] = {"lat": self.state.lat, "lon": self.state.lon, "accuracy_m": 15, "source": "gps"}
        fields["reason"] = reason
        if request_id is not None:
            fields["request_id"] = request_id
        return await self.publish("location", fields)

    async def strap(self, *, on: bool) -> str:
        self.state.worn = on
        return await self.publish("strap", {"state": "on" if on else "removed"})

    async def battery_low(self) -> str:
        return await self.publish("battery_low", {"battery": self.state.battery})

    async def checkin(self) -> str:
        return await self.publish("checkin")

    async def cancel_fall(self, *, timeout: float | None = None) -> dict[str, Any]:
        """ "I am OK" after a fall: repeated like an alarm until the platform confirms it."""
        return await self.press("fall_cancel", timeout=timeout)

    async def press(
        self, kind: str = "sos", fields: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Raise an alarm and repeat it until `alarm_received` comes back; returns that downlink."""
        msg_id = self._message_id()
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = waiter
        delay = self.repeat.first_s
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        await self.publish(kind, fields, msg_id=msg_id)
                    except MqttError as exc:
                        log.info("band %s: %s not sent (%s); will repeat", self.serial, kind, exc)
                    with contextlib.suppress(TimeoutError):
                        return await asyncio.wait_for(asyncio.shield(waiter), delay)
                    delay = min(delay * 2, self.repeat.max_s)
        finally:
            self._waiting.pop(msg_id, None)
