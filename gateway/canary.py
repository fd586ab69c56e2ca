"""The gateway's canary: proof, every few seconds, that the broker still delivers to each connection.

A connection can look perfectly healthy (TCP up, pings answered) and yet receive nothing: the
broker lost its subscriptions, or stopped granting it delivery (issue 16: one anonymous CONNECT
with the gateway's client id did exactly that to the embedded broker, silently, until a restart).
So each of the gateway's connections publishes a small message to a topic of its own and must
hear it back. One that hears none for `deaf_after_s` is deaf: /readyz says so, the error is
logged and counted, the supervisor's page shows it (the gateway's `canary/…` row in
`service_state`), and the connection is closed so it is made anew and subscribes again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from prometheus_client import Counter, Gauge

from core.clock import Clock
from core.mqtt.client import AsyncMqttClient, IncomingMessage, MqttError

log = logging.getLogger(__name__)

CANARY_DEAF = Gauge(
    "opaska_gateway_canary_deaf",
    "1 while a gateway connection hears no canary through the broker (alarms cannot reach it).",
    ["lane"],
)
CANARY_DEAF_EPISODES = Counter(
    "opaska_gateway_deaf_episodes_total", "Times a gateway connection went deaf and was made anew.", ["lane"]
)


def canary_topic(root: str, client_id: str) -> str:
    """Under the topic root (the service account's rights) and outside every band topic."""
    return f"{root}/platform/canary/{client_id}"


class Canary:
    def __init__(
        self,
        client: AsyncMqttClient,
        *,
        topic: str,
        lane: str,
        clock: Clock,
        every_s: float,
        deaf_after_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self.lane = lane
        self._client = client
        self._clock = clock
        self._every_s = every_s
        self._deaf_after_s = deaf_after_s
        self._monotonic = monotonic
        self._listening_since = monotonic()
        self._heard_at = float("-inf")
        self._sent = 0
        self.deaf_since: datetime | None = None
        CANARY_DEAF.labels(lane).set(0)

    def listening(self) -> None:
        """The connection was (re)made and subscribed: it gets a full window to hear a canary."""
        self._listening_since = self._monotonic()

    def hear(self, message: IncomingMessage) -> None:
        self._client.ack(message)
        self._heard_at = self._monotonic()
        if self.deaf_since is not None:
            log.warning("gateway %s lane hears its canary again (deaf since %s)", self.lane, self.deaf_since)
            self.deaf_since = None
            CANARY_DEAF.labels(self.lane).set(0)

    def silent_for(self) -> float:
        return self._monotonic() - max(self._heard_at, self._listening_since)

    async def state(self) -> str:
        """For /readyz."""
        if self.deaf_since is None:
            return "ok"
        return f"deaf: {self.lane} lane heard no canary through the broker for {self.silent_for():.0f} s"

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            if not self._client.is_connected or self._client.is_reading_paused:
                # Not connected: the reconnect loop is on it. Paused: back-pressure holds the
                # canary in the socket like everything else; that is not deafness.
                self.listening()
                continue
            self._sent += 1
            try:
                # Not waited for: a broker that takes the message and never delivers it is the
                # very case looked for, and the PUBACK would prove nothing.
                await self._client.publish(self.topic, str(self._sent).encode(), qos=1, timeout=None)
            except MqttError as exc:
                log.debug("gateway %s canary not sent: %s", self.lane, exc)
            if self.silent_for() > self._deaf_after_s:
                await self._deaf()

    async def _deaf(self) -> None:
        silent = self.silent_for()
        if self.deaf_since is None:
            self.deaf_since = self._clock.now()
        CANARY_DEAF.labels(self.lane).set(1)
        CANARY_DEAF_EPISODES.labels(self.lane).inc()
        log.error(
            "gateway %s lane is DEAF: connected to %s but no canary came back for %.0f s; alarms may not be "
            "reaching it. Reconnecting.",
            self.lane,
            self._client.endpoint,
            silent,
        )
        self.listening()
        await self._client.disconnect()
