"""Thousands of virtual bands in one asyncio loop: no thread and no timer task per band.

Each band is one `MqttLink` with its own credentials and client id `band-{serial}`, speaking the
band protocol (docs/band-protocol.md) with messages built by the gateway's own payload models. One
task sends every band's heartbeat when it is due (a heap of due times), one task sends keepalive
pings, and a lost connection is retried with jittered exponential backoff, so after a broker restart
the fleet comes back spread over a few seconds instead of all in the same millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.mqtt.reconnect import Backoff
from gateway.payloads import (
    BatteryLow,
    Checkin,
    Fall,
    FallCancel,
    Heartbeat,
    LocationReport,
    Sos,
    Strap,
    Uplink,
)
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy
from simulator.mqtt311 import LinkError, LinkWill, MqttLink, open_link

log = logging.getLogger(__name__)

UPLINK_MODELS: dict[str, type[Uplink]] = {
    "sos": Sos,
    "fall": Fall,
    "fall_cancel": FallCancel,
    "heartbeat": Heartbeat,
    "battery_low": BatteryLow,
    "strap": Strap,
    "location": LocationReport,
    "checkin": Checkin,
}
ONLINE = b'{"v":1,"online":true}'
OFFLINE = b'{"v":1,"online":false}'


@dataclass(frozen=True)
class BandCredentials:
    serial: str
    secret: str


@dataclass
class FleetBand:
    index: int
    serial: str
    secret: str
    battery: float = 95.0
    charging: bool = False
    worn: bool = True
    signal: int = 80
    lat: float = 51.1079
    lon: float = 17.0385
    heartbeat_interval_s: float = 300.0
    fall_cancel_window_s: float = 30.0
    # A silent band sends nothing and does not come back when its connection is gone.
    silent: bool = False
    link: MqttLink | None = None
    sequence: int = 0
    waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    config_seen: bool = False


@dataclass
class AlarmOutcome:
    serial: str
    kind: str
    msg_id: str
    sends: int
    seconds: float
    answer: dict[str, Any] | None  # the alarm_received downlink; None if it never came


@dataclass
class FleetStats:
    sent: Counter[str] = field(default_factory=Counter)
    downlink: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    connects: int = 0
    connect_failures: int = 0
    losses: int = 0
    alarms: list[AlarmOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        acked = [a for a in self.alarms if a.answer is not None]
        return {
            "sent": dict(self.sent),
            "downlink": dict(self.downlink),
            "repeats": self.repeats,
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "connections_lost": self.losses,
            "alarms": len(self.alarms),
            "alarms_acknowledged": len(acked),
        }


class Fleet:
    """N virtual bands on one broker. `start()` connects them all, `stop()` disconnects them."""

    def __init__(
        self,
        credentials: Sequence[BandCredentials],
        *,
        host: str,
        port: int,
        topics: TopicScheme,
        seed: int = 1,
        heartbeat_interval_s: float = 300.0,
        keepalive_s: int = 60,
        connect_concurrency: int = 100,
        repeat: RepeatPolicy | None = None,
        reconnect_first_s: float = 1.0,
        heartbeats: bool = True,
    ) -> None:
        self.host, self.port, self.topics = host, port, topics
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, repeatable by its seed
        self.bands = [
            FleetBand(i, c.serial, c.secret, heartbeat_interval_s=heartbeat_interval_s)
            for i, c in enumerate(credentials)
        ]
        self.by_serial = {band.serial: band for band in self.bands}
        self.keepalive_s = keepalive_s
        self.repeat = repeat or RepeatPolicy()
        self.stats = FleetStats()
        self._connect_slots = asyncio.Semaphore(connect_concurrency)
        self._reconnect_first_s = reconnect_first_s
        self._heartbeats = heartbeats
        self._due: list[tuple[float, int, int]] = []  # (due time, band index, schedule generation)
        self._generation = [0] * len(self.bands)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        # A run-unique part in message ids: a band's ids never repeat across runs on one database.
        self._run = format(int(time.time() * 1000) % 36**7, "x")
        self.on_downlink: Callable[[FleetBand, str, dict[str, Any]], None] | None = None
        # Called after each scheduled heartbeat; scenarios change a band's state here.
        self.on_heartbeat: Callable[[FleetBand], None] | None = None

    # -- connections ----------------------------------------------------------------------------

    @property
    def connected(self) -> int:
        return sum(1 for band in self.bands if band.link is not None and band.link.connected)

    async def start(self, *, tolerate_failures: bool = False) -> None:
        """Connect every band, then start heartbeats and pings.

        A band that cannot connect raises LinkError, or with tolerate_failures keeps trying in the
        background (with the fleet's reconnect backoff) while the others start.
        """
        results = await asyncio.gather(*(self._first_connect(band) for band in self.bands), return_exceptions=True)
        failures = [(band.serial, r) for band, r in zip(self.bands, results, strict=True) if r is not None]
        if failures and tolerate_failures:
            log.warning("%d band(s) not connected yet, e.g. %s: %s", len(failures), *failures[0])
            for band, result in zip(self.bands, results, strict=True):
                if result is not None:
                    self._spawn(self._reconnect(band))
        elif failures:
            serial, error = failures[0]
            raise LinkError(f"{len(failures)} band(s) could not connect, e.g. {serial}: {error}")
        loop = asyncio.get_running_loop()
        now = loop.time()
        for band in self.bands:
            # Spread the first heartbeats over one interval, as a real fleet's are.
            self._schedule(band, now + self.rng.uniform(0, band.heartbeat_interval_s))
        self._spawn(self._heartbeat_loop())
        self._spawn(self._ping_loop())

    async def _first_connect(self, band: FleetBand, attempts: int = 8) -> Exception | None:
        # A real band retries too; and a broker may turn away a burst of bands it has not yet
        # loaded (the embedded one looks an unknown name up at most once a second).
        backoff = Backoff(first_s=0.5, max_s=4.0, rng=self.rng)
        for _ in range(attempts - 1):
            if await self._connect(band) is None:
                return None
            await asyncio.sleep(backoff.next_delay())
        return await self._connect(band)

    async def _connect(self, band: FleetBand) -> Exception | None:
        async with self._connect_slots:
            try:
                band.link = await open_link(
                    self.host,
                    self.port,
                    client_id=f"band-{band.serial}",
                    username=band.serial,
                    password=band.secret,
                    keepalive_s=self.keepalive_s,
                    will=LinkWill(self.topics.status(band.serial), OFFLINE),
                    on_message=lambda topic, payload: self._downlink(band, topic, payload),
                    on_lost=lambda _link, _exc: self._lost(band),
                )
                await band.link.subscribe(self.topics.downlink_filter(band.serial))
                band.link.publish(self.topics.status(band.serial), ONLINE, retain=True)
            except (OSError, LinkError, TimeoutError) as exc:
                self.stats.connect_failures += 1
                if band.link is not None:
                    band.link.drop()
                return exc
        self.stats.connects += 1
        return None

    def _lost(self, band: FleetBand) -> None:
        self.stats.losses += 1
        if not self._stopping and not band.silent:
            self._spawn(self._reconnect(band))

    async def _reconnect(self, band: FleetBand) -> None:
        backoff = Backoff(first_s=self._reconnect_first_s, max_s=30.0, rng=self.rng)
        while not self._stopping and not band.silent:
            # Full jitter, also before the first try: after a broker restart every band lost its
            # connection in the same instant, and must not all knock in the same instant.
            await asyncio.sleep(backoff.next_delay())
            if self._stopping or await self._connect(band) is None:
                return

    def drop_all(self) -> None:
        """Every connection vanishes at once, as in a broker restart; each band reconnects on its own."""
        for band in self.bands:
            if band.link is not None and band.link.connected:
                band.link.lose()

    def go_silent(self, band: FleetBand) -> None:
        """The band dies (battery flat, out of coverage): no DISCONNECT, so the broker sends its will."""
        band.silent = True
        if band.link is not None:
            band.link.drop()

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for band in self.bands:
            if band.link is not None:
                band.link.disconnect()
        await asyncio.sleep(0.05)  # let the transports flush their DISCONNECTs

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- downlink -------------------------------------------------------------------------------

    def _downlink(self, band: FleetBand, topic: str, raw: bytes) -> None:
        kind = topic.rsplit("/", 1)[-1]
        try:
            payload = json.loads(raw)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        self.stats.downlink[kind] += 1
        if kind == "alarm_received":
            waiter = band.waiting.get(str(payload.get("msg_id")))
            if waiter is not None and not waiter.done():
                waiter.set_result(payload)
        elif kind == "config":
            band.config_seen = True
            interval = payload.get("heartbeat_interval_s")
            if isinstance(interval, int | float) and interval > 0 and interval != band.heartbeat_interval_s:
                band.heartbeat_interval_s = float(interval)
                self._schedule(band, asyncio.get_running_loop().time() + self.rng.uniform(0, interval))
            window = payload.get("fall_cancel_window_s")
            if isinstance(window, int | float) and window >= 0:
                band.fall_cancel_window_s = float(window)
        elif kind == "locate" and isinstance(payload.get("request_id"), str):
            self.send(
                band,
                "location",
                lat=band.lat,
                lon=band.lon,
                accuracy_m=15,
                source="gps",
                reason="locate",
                request_id=payload["request_id"],
            )
        if self.on_downlink is not None:
            self.on_downlink(band, kind, payload)

    # -- uplink ---------------------------------------------------------------------------------

    def next_msg_id(self, band: FleetBand) -> str:
        band.sequence += 1
        return f"{band.serial}-{self._run}-{band.sequence}"

    def send(self, band: FleetBand, kind: str, *, msg_id: str | None = None, **fields: Any) -> str | None:
        """Publish one message at QoS 1 without waiting for the PUBACK; None if the band is offline."""
        if band.link is None or not band.link.connected or band.silent:
            return None
        msg_id = msg_id or self.next_msg_id(band)
        message = UPLINK_MODELS[kind](v=1, msg_id=msg_id, ts=datetime.now(UTC), **fields)
        try:
            band.link.publish(
                self.topics.uplink(band.serial, kind), message.model_dump_json(exclude_none=True).encode()
            )
        except LinkError:
            return None
        self.stats.sent[kind] += 1
        return msg_id

    def heartbeat(self, band: FleetBand) -> str | None:
        return self.send(
            band, "heartbeat", battery=round(band.battery), charging=band.charging, worn=band.worn, signal=band.signal
        )

    async def press(
        self, band: FleetBand, kind: str = "sos", *, timeout: float | None = None, **fields: Any
    ) -> AlarmOutcome:
        """Raise an alarm and repeat it (same id, backoff) until `alarm_received` for it arrives."""
        msg_id = self.next_msg_id(band)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        band.waiting[msg_id] = waiter
        outcome = AlarmOutcome(band.serial, kind, msg_id, 0, 0.0, None)
        self.stats.alarms.append(outcome)
        started = time.monotonic()
        delay = self.repeat.first_s
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self.send(band, kind, msg_id=msg_id, **fields) is not None:
                        outcome.sends += 1
                        if outcome.sends > 1:
                            self.stats.repeats += 1
                    with contextlib.suppress(TimeoutError):
                        outcome.answer = await asyncio.wait_for(asyncio.shield(waiter), delay)
                        break
                    delay = min(delay * 2, self.repeat.max_s)
        except TimeoutError:
            pass
        finally:
            band.waiting.pop(msg_id, None)
            outcome.seconds = time.monotonic() - started
        return outcome

    # -- the fleet's two timers -----------------------------------------------------------------

    def _schedule(self, band: FleetBand, due: float) -> None:
        self._generation[band.index] += 1
        heapq.heappush(self._due, (due, band.index, self._generation[band.index]))
        self._wake.set()

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            while self._due and self._due[0][0] <= now:
                due, index, generation = heapq.heappop(self._due)
                if generation != self._generation[index]:
                    continue  # rescheduled by a new config
                band = self.bands[index]
                if self._heartbeats:
                    self.heartbeat(band)
                if self.on_heartbeat is not None:
                    self.on_heartbeat(band)
                # From the due time, not from now: a busy loop must not slow the fleet's rate down.
                next_due = due + band.heartbeat_interval_s
                heapq.heappush(self._due, (max(next_due, now), index, generation))
            self._wake.clear()
            wait = min(self._due[0][0] - now, 1.0) if self._due else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.001))

    async def _ping_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(5.0, self.keepalive_s / 4))
            idle_limit = loop.time() - self.keepalive_s / 2
            for band in self.bands:
                link = band.link
                if link is not None and link.connected and link.last_sent < idle_limit:
                    with contextlib.suppress(LinkError):
                        link.ping()
