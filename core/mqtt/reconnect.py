"""Stay connected: reconnect with jittered exponential backoff, re-subscribing each time."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from core.mqtt.client import AsyncMqttClient, MqttError

log = logging.getLogger(__name__)


class Backoff:
    """Full-jitter exponential backoff: many clients reconnecting after an outage spread out."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0, rng: random.Random | None = None) -> None:
        self._first_s = first_s
        self._max_s = max_s
        self._attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets

    def next_delay(self) -> float:
        ceiling = min(self._max_s, self._first_s * (2**self._attempt))
        self._attempt += 1
        return self._rng.uniform(self._first_s / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


def platform_backoff() -> Backoff:
    """For the platform's own few connections (the gateway's lanes): a broker restart takes a
    fraction of a second, and alarms wait in the broker until the gateway is back, so it tries
    again within tens of milliseconds. Only bands, thousands of them, need the wide spread."""
    return Backoff(first_s=0.05, max_s=5.0)


async def stay_connected(
    client: AsyncMqttClient,
    *,
    on_connected: Callable[[bool], Awaitable[None]],
    already_connected: bool = False,
    backoff: Backoff | None = None,
) -> None:
    """Run forever: after every (re)connect call on_connected(session_present), then wait for a drop.

    With already_connected the first connect is the caller's (so a start-up failure is reported
    as an error rather than retried silently).
    """
    backoff = backoff or Backoff()
    connected = already_connected
    while True:
        if not connected:
            try:
                session_present = await client.connect()
            except MqttError as exc:
                delay = backoff.next_delay()
                log.warning("%s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            log.info("MQTT %s reconnected to %s (session kept: %s)", client.client_id, client.endpoint, session_present)
            try:
                await on_connected(session_present)
            except (MqttError, TimeoutError) as exc:
                # E.g. the SUBACK never came: start over rather than run half-subscribed.
                delay = backoff.next_delay()
                log.warning(
                    "MQTT %s set-up after reconnect failed (%s); retrying in %.1f s", client.client_id, exc, delay
                )
                await client.disconnect()
                await asyncio.sleep(delay)
                continue
        backoff.reset()
        why = await client.wait_disconnected()
        log.warning("MQTT %s lost its connection to %s: %s", client.client_id, client.endpoint, why)
        connected = False
