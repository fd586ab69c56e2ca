"""How many bands, and how many messages a second, does the embedded amqtt broker carry?

amqtt 0.12.1 matches every published message against every subscription filter in Python, and
every band holds one subscription of its own (`{root}/bands/{serial}/down/#`), so the cost of a
message grows with the number of connected bands. For each band count N:

- a throwaway SQLite database is migrated with the project's Alembic migrations, and N bands (each
  with its own resident and secret) are registered in one transaction with `registry.service`;
- an `EmbeddedBroker` with the project's `CredentialStore` and topic ACL plugins runs in a child
  process of its own (spawned, bench/amqtt_broker.py), so that the clients' CPU does not count against it;
- N band clients (`AsyncMqttClient`, MQTT 3.1.1 as on the embedded broker, all in one asyncio loop)
  connect with their own credentials and subscribe at QoS 1 to their downlink; one service-account
  client (clean start off, as the gateway) subscribes at QoS 1 to `{root}/bands/+/up/#`;
- `saturate`: W workers each publish a QoS 1 heartbeat from the next band, wait for its PUBACK and
  for its delivery to the gateway subscriber, then send the next (at most W messages in flight end
  to end, so the broker's queue stays bounded and the rate is what the broker sustains);
- `paced`: heartbeats at half the rate `saturate` reached, evenly spaced, for the latency when the
  broker is not the bottleneck.

Rates count deliveries to the gateway subscriber; latency is from PUBLISH to delivery, both in this
process (time.perf_counter). Broker CPU is the child's process time over the phase's wall time
(1.0 = one core busy), client CPU the same for this process.

    .venv/bin/python -m bench.amqtt_cap [--bands 100,1000,3000] [--seconds 10] [--window 32]

prints a table and writes bench/results/amqtt_cap.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import secrets
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.amqtt_broker import ROOT, SERVICE_USERNAME, BrokerProcess
from core.clock import SystemClock
from core.db.engine import make_engine, make_session_factory
from core.mqtt.client import AsyncMqttClient, IncomingMessage
from core.mqtt.endpoint import MqttEndpoint
from gateway.topics import TopicScheme
from opaska.db.migrate import upgrade_to_head
from registry.service import create_municipality, create_resident, register_band

RESULTS = Path(__file__).parent / "results" / "amqtt_cap.json"
CONNECT_CONCURRENCY = 50
DRAIN_TIMEOUT = 30.0


@dataclass(frozen=True)
class Phase:
    bands: int
    phase: str  # "saturate" or "paced"
    target_rate: float | None  # messages/s asked for (paced only)
    seconds: float  # wall time of the phase (publishing)
    published: int
    delivered: int  # distinct heartbeats delivered to the gateway subscriber
    rate: float  # delivered / seconds
    p50_ms: float
    p99_ms: float
    max_ms: float
    broker_cpu: float  # broker process CPU seconds / wall seconds (1.0 = one core)
    client_cpu: float  # the same for this process (all clients and the gateway stand-in)


@dataclass(frozen=True)
class Setup:
    bands: int
    register_seconds: float
    connect_seconds: float


# -- the database -----------------------------------------------------------------------------


async def make_registry(db_url: str, bands: int) -> dict[str, str]:
    """Migrate a fresh database and register `bands` bands in one transaction; serial → secret."""
    engine = make_engine(db_url)
    try:
        await upgrade_to_head(engine)
        clock = SystemClock()
        secrets_by_serial: dict[str, str] = {}
        async with make_session_factory(engine)() as session, session.begin():
            municipality = await create_municipality(session, clock, code="BENCH", name="Bench")
            for i in range(bands):
                resident = await create_resident(
                    session, clock, municipality_id=municipality.id, first_name="Band", last_name=f"{i:06d}"
                )
                serial = f"BENCH{i:06d}"
                registered = await register_band(session, clock, serial=serial, resident_id=resident.id)
                secrets_by_serial[serial] = registered.secret
        return secrets_by_serial
    finally:
        await engine.dispose()


# -- the clients ------------------------------------------------------------------------------


class GatewayStandIn:
    """The service account on `{root}/bands/+/up/#`: resolves the waiter of each heartbeat."""

    def __init__(self, endpoint: MqttEndpoint, topics: TopicScheme) -> None:
        self.topics = topics
        self.waiting: dict[int, asyncio.Future[float]] = {}
        self.delivered: set[int] = set()
        self.client = AsyncMqttClient(
            endpoint,
            client_id=f"bench-gateway-{secrets.token_hex(4)}",
            protocol="3.1.1",
            clean_start=False,
            keepalive_s=60,
            on_message=self._on_message,
        )

    async def start(self) -> None:
        await self.client.connect()
        granted = await self.client.subscribe([(self.topics.uplink_filter, 1)])
        if granted != [1]:
            raise RuntimeError(f"gateway subscription refused: {granted}")

    def _on_message(self, message: IncomingMessage) -> None:
        now = time.perf_counter()
        seq = int(json.loads(message.payload)["seq"])
        self.delivered.add(seq)
        waiter = self.waiting.pop(seq, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)


async def connect_bands(endpoint: MqttEndpoint, topics: TopicScheme, creds: dict[str, str]) -> list[AsyncMqttClient]:
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(serial: str, secret: str) -> AsyncMqttClient:
        async with limit:
            client = AsyncMqttClient(
                endpoint,
                client_id=f"band-{serial}",
                username=serial,
                password=secret,
                protocol="3.1.1",
                keepalive_s=120,
            )
            await client.connect(timeout=60)
            granted = await client.subscribe([(topics.downlink_filter(serial), 1)], timeout=60)
            if granted != [1]:
                raise RuntimeError(f"band {serial}: downlink subscription refused: {granted}")
            return client

    return list(await asyncio.gather(*(one(serial, secret) for serial, secret in creds.items())))


class Publisher:
    def __init__(self, bands: list[AsyncMqttClient], gateway: GatewayStandIn, topics: TopicScheme) -> None:
        self.bands = bands
        self.gateway = gateway
        self.topics = topics
        self._seq = 0

    @property
    def last_seq(self) -> int:
        return self._seq

    async def heartbeat(self) -> float:
        """Publish one heartbeat from the next band; the seconds until the gateway got it."""
        self._seq += 1
        seq = self._seq
        band = self.bands[seq % len(self.bands)]
        serial = band.client_id.removeprefix("band-")
        payload = {
            "v": 1,
            "msg_id": f"{serial}-{seq}",
            "ts": datetime.now(UTC).isoformat(),
            "seq": seq,
            "battery": 87,
            "charging": False,
            "worn": True,
            "signal": 70,
        }
        waiter = asyncio.get_running_loop().create_future()
        self.gateway.waiting[seq] = waiter
        sent = time.perf_counter()
        try:
            await band.publish(self.topics.uplink(serial, "heartbeat"), json.dumps(payload).encode(), qos=1, timeout=60)
            return float(await asyncio.wait_for(waiter, DRAIN_TIMEOUT)) - sent
        finally:
            self.gateway.waiting.pop(seq, None)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


async def _phase(
    name: str,
    n: int,
    broker: BrokerProcess,
    publisher: Publisher,
    gateway: GatewayStandIn,
    seconds: float,
    window: int,
    rate: float | None,
) -> Phase:
    latencies: list[float] = []
    published = 0
    first_seq = publisher.last_seq + 1
    cpu0 = await broker.cpu_seconds()
    client_cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds

    async def one() -> None:
        latencies.append(await publisher.heartbeat())

    if rate is None:

        async def worker() -> None:
            nonlocal published
            while time.perf_counter() < deadline:
                published += 1
                await one()

        await asyncio.gather(*(worker() for _ in range(window)))
        wall = time.perf_counter() - start
    else:
        tasks: list[asyncio.Task[None]] = []
        interval = 1.0 / rate
        while (due := start + published * interval) < deadline:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
            published += 1
        wall = time.perf_counter() - start
        await asyncio.gather(*tasks)
    cpu = await broker.cpu_seconds() - cpu0
    client_cpu = time.process_time() - client_cpu0
    elapsed = time.perf_counter() - start
    delivered = len({s for s in gateway.delivered if s >= first_seq})
    ms = sorted(x * 1000 for x in latencies)
    return Phase(
        bands=n,
        phase=name,
        target_rate=round(rate, 1) if rate is not None else None,
        seconds=round(wall, 2),
        published=published,
        delivered=delivered,
        rate=round(delivered / wall, 1),
        p50_ms=round(_percentile(ms, 0.50), 1),
        p99_ms=round(_percentile(ms, 0.99), 1),
        max_ms=round(ms[-1], 1) if ms else float("nan"),
        # Includes the drain of the last messages after the deadline: a little low, not high.
        broker_cpu=round(cpu / elapsed, 2),
        client_cpu=round(client_cpu / elapsed, 2),
    )


async def measure(n: int, seconds: float, window: int, workdir: Path) -> tuple[Setup, list[Phase]]:
    db_url = f"sqlite+aiosqlite:///{workdir / f'bench-{n}.db'}"
    t0 = time.perf_counter()
    creds = await make_registry(db_url, n)
    register_seconds = time.perf_counter() - t0
    service_password = secrets.token_urlsafe(16)
    broker = BrokerProcess(db_url, service_password)
    bands: list[AsyncMqttClient] = []
    gateway: GatewayStandIn | None = None
    try:
        await broker.started()
        topics = TopicScheme(ROOT)
        endpoint = MqttEndpoint("127.0.0.1", broker.port)
        gateway = GatewayStandIn(
            MqttEndpoint("127.0.0.1", broker.port, username=SERVICE_USERNAME, password=service_password), topics
        )
        await gateway.start()
        t0 = time.perf_counter()
        bands = await connect_bands(endpoint, topics, creds)
        connect_seconds = time.perf_counter() - t0
        print(f"  {n} bands: registered in {register_seconds:.1f} s, connected in {connect_seconds:.1f} s", flush=True)
        publisher = Publisher(bands, gateway, topics)
        # Warm-up: the first messages pay for code paths and allocations once.
        await asyncio.gather(*(publisher.heartbeat() for _ in range(min(window, 20))))
        saturate = await _phase("saturate", n, broker, publisher, gateway, seconds, window, None)
        print(f"  {n} bands: saturate {saturate.rate} msg/s", flush=True)
        paced = await _phase("paced", n, broker, publisher, gateway, seconds, window, max(1.0, saturate.rate / 2))
        return Setup(n, round(register_seconds, 1), round(connect_seconds, 1)), [saturate, paced]
    finally:
        await asyncio.gather(*(band.disconnect() for band in bands), return_exceptions=True)
        if gateway is not None:
            await gateway.client.disconnect()
        await broker.stop()


def _table(phases: list[Phase]) -> str:
    head = "| bands | load                 | delivered msg/s | p50 ms | p99 ms | broker CPU | client CPU |"
    rule = "|------:|----------------------|----------------:|-------:|-------:|-----------:|-----------:|"
    rows = []
    for p in phases:
        load = "saturated" if p.target_rate is None else f"paced at {p.target_rate:g}/s"
        rows.append(
            f"| {p.bands:>5,} | {load:<20} | {p.rate:>15,.1f} | {p.p50_ms:>6,.1f} | {p.p99_ms:>6,.1f} | "
            f"{p.broker_cpu:>10.2f} | {p.client_cpu:>10.2f} |"
        )
    return "\n".join([head, rule, *rows])


async def main_async(band_counts: list[int], seconds: float, window: int) -> dict[str, Any]:
    setups: list[Setup] = []
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="amqtt-cap-") as tmp:
        for n in band_counts:
            setup, measured = await measure(n, seconds, window, Path(tmp))
            setups.append(setup)
            phases.extend(measured)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "amqtt": metadata.version("amqtt"),
        "paho_mqtt": metadata.version("paho-mqtt"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seconds_per_phase": seconds,
        "window": window,
        "credentials": "CredentialStore on a migrated SQLite database, bands registered with registry.service",
        "broker": "EmbeddedBroker with BandAuthPlugin and TopicAclPlugin, in a spawned child process",
        "setup": [asdict(s) for s in setups],
        "results": [asdict(p) for p in phases],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bands", default="100,1000,3000", help="comma-separated band counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--window", type=int, default=32, help="heartbeats in flight when saturating")
    args = parser.parse_args()
    band_counts = [int(n) for n in args.bands.split(",") if n.strip()]
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    report = asyncio.run(main_async(band_counts, args.seconds, args.window))
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    phases = [Phase(**p) for p in report["results"]]
    print(_table(phases))
    print(f"total {report['total_seconds']} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
