"""B2: alarm latency, and the platform's memory at 10,000 connected bands.

SOS published by a band -> the alarm arrives at an operator's console over the live WebSocket
(`/ws/live`, logged in through POST /api/login as a staff member of the fleet's municipality).
Probe bands (a few hundred, each pressing once, so every press is a new alarm) press SOS at even
intervals while:

- `idle`: nothing else happens (the baseline);
- `10k bands`: 10,000 other bands are connected, each sending heartbeats at its interval
  (`--interval`, default 60 s: five times the shipped default's rate);
- `1,700 msg/s`: 1,000 bands sending heartbeats every 0.6 s (100,000 bands' rate at 60 s, with
  fewer connections);
- `reconnect storm`: the 10,000 bands (and the gateway, and the probes) are connected when the
  broker is restarted (SIGTERM, start): everyone reconnects with jittered backoff, and the probes
  press as soon as they are back, while the storm goes on.

Latency is measured in this process: from just before the PUBLISH to the WebSocket message
announcing the alarm (`alarm_event`, `raised`, the probe's serial); and, separately, to the band's
`alarm_received`.

Topologies (`--topology`; `both` by default on Mosquitto + PostgreSQL, else `one`): `one` is
`opaska run`, the whole platform in one process; `compose` is production's (docker-compose.yml):
`opaska gateway`, `opaska engine` and `opaska console` as three processes on the same database and
broker. Each topology gets a fresh database, broker and bands, and runs every phase.

The bare relay (bench/bare_relay.py, on Mosquitto): a plain paho subscriber in a process of its own,
on the service account and the gateway's alarm topics, forwarding each SOS to a minimal WebSocket
server, with no validation and no database. The same press is timed to the console and to the
relay, so each phase gives both and their ratio. Target: SOS -> console p99 <= 50 ms and <= 3x the
relay's p99 (PASS/FAIL per phase; a miss does not fail the run: this is a measurement).

Memory: resident memory of each platform process (and their sum), of Mosquitto and of the relay,
sampled while the 10,000 bands are connected; the broker's own count of connected clients is read
from `$SYS/broker/clients/connected`.

    .venv/bin/python -m bench.latency [--quick] [--broker mosquitto|embedded] [--database postgresql|sqlite]
        [--topology one|compose|both]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.bare_relay import RelayProcess
from bench.common import percentiles, postgres_available, rss_mib, scale, write_results
from bench.fleet_proc import FleetProcess
from bench.latency_report import TARGET, print_report, row
from bench.platform import ROOT, BenchPlatform, start_platform
from core.clock import SystemClock
from core.db.engine import make_engine, make_session_factory
from gateway.payloads import PRIORITY_KINDS
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy
from simulator.fleet import BandCredentials, Fleet
from simulator.lab.staff import create_staff, log_in

TOPICS = TopicScheme(ROOT)


class Feed:
    """A live WebSocket feed (the console's, or the bare relay's): when did each band's alarm arrive."""

    def __init__(self, serial_of: Callable[[dict[str, Any]], str | None]) -> None:
        self.arrived: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self._serial_of = serial_of

    async def run(self, url: str, headers: dict[str, str], ready: asyncio.Event) -> None:
        async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                # The console's first message is its snapshot, the relay's a hello: the feed is live.
                if message.get("type") in ("snapshot", "ready"):
                    ready.set()
                    continue
                serial = self._serial_of(message)
                if serial is None:
                    continue
                self.arrived.setdefault(serial, now)
                waiter = self._waiters.pop(serial, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)

    def wait_for(self, serial: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if serial in self.arrived:
            future.set_result(self.arrived[serial])
        else:
            self._waiters[serial] = future
        return future


def console_alarm(message: dict[str, Any]) -> str | None:
    """The band whose alarm was just raised, from the console's `/ws/live`."""
    if message.get("type") != "alarm_event" or message.get("event", {}).get("type") != "raised":
        return None
    return str(message.get("alarm", {}).get("band_serial"))


def relay_alarm(message: dict[str, Any]) -> str | None:
    """The band of an SOS, from the bare relay: its topic (the payload is not even read)."""
    uplink = TOPICS.parse_uplink(str(message.get("topic", "")))
    return uplink.band if uplink is not None and uplink.kind == "sos" else None


async def _probe(
    fleet: Fleet, feeds: dict[str, Feed], probes: list[BandCredentials], every_s: float, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Each probe band presses SOS once, `every_s` apart: latency of the one press to every feed
    (console, relay) and to the band's alarm_received."""
    arrivals: dict[str, list[float]] = {name: [] for name in feeds}
    lost: dict[str, list[str]] = {name: [] for name in feeds}
    to_band: list[float] = []

    async def arrival(name: str, future: asyncio.Future[float], serial: str, sent_at: float) -> None:
        try:
            arrivals[name].append((await asyncio.wait_for(future, timeout_s) - sent_at) * 1000)
        except TimeoutError:
            lost[name].append(serial)

    async def one(credentials: BandCredentials) -> None:
        band = fleet.by_serial[credentials.serial]
        waiting = {name: feed.wait_for(band.serial) for name, feed in feeds.items()}
        sent_at = time.perf_counter()
        press = asyncio.ensure_future(fleet.press(band, "sos", timeout=timeout_s))
        await asyncio.gather(*(arrival(name, future, band.serial, sent_at) for name, future in waiting.items()))
        outcome = await press
        if outcome.answer is not None:
            to_band.append(outcome.seconds * 1000)

    tasks = []
    for credentials in probes:
        link = fleet.by_serial[credentials.serial].link
        if link is None or not link.connected:
            continue  # never connected (the embedded broker turned it away): nothing to measure
        tasks.append(asyncio.create_task(one(credentials)))
        await asyncio.sleep(every_s)
    await asyncio.gather(*tasks)
    return {
        "feeds": {name: percentiles(values) for name, values in arrivals.items()},
        "alarm_received": percentiles(to_band),
        "not_arrived": lost,
        "sends": sum(o.sends for o in fleet.stats.alarms if o.serial in {c.serial for c in probes}),
    }


async def _staff_login(platform: BenchPlatform) -> dict[str, str]:
    engine = make_engine(platform.database.url)
    try:
        member = await create_staff(
            make_session_factory(engine), SystemClock(), role="operator", municipality_ids=[platform.municipality_id]
        )
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=platform.base_url) as http:
        login = await log_in(http, member)
    return login.cookie_header


@dataclass(frozen=True)
class _Plan:
    """How big each phase is, from --quick, --broker and BENCH_SCALE."""

    big: int
    busy: int
    busy_interval: float
    probes_per_phase: int
    settle_s: float
    every_s: float
    phases: list[str]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _Plan:
        factor = scale(args.quick)
        busy = max(20, int(1_000 * factor))
        return cls(
            big=int((10_000 if args.broker == "mosquitto" else 1_000) * factor),
            busy=busy,
            # The same heartbeat rate, 1,000 bands every 0.6 s, with the bands there are.
            busy_interval=0.6 * busy / 1_000,
            probes_per_phase=5 if args.quick else max(10, int(100 * min(1.0, factor))),
            settle_s=1.0 if args.quick else max(2.0, 5 * factor),
            # Four SOS a second: far more than a centre ever sees, few enough not to measure the alarm
            # path's throughput instead of its latency (B3: 40-140 alarms/s, one at a time, on this machine).
            every_s=0.05 if args.quick else 0.25,
            # The embedded broker carries about 700 msg/s at best (bench/amqtt_cap.py): no flood, no storm there.
            phases=["idle", "fleet", "busy", "storm"] if args.broker == "mosquitto" else ["idle", "fleet"],
        )


@dataclass
class _Probes:
    """The probe bands, a set per phase, and the feeds (console, bare relay) that see their alarms arrive."""

    topology: str
    fleet: Fleet
    feeds: dict[str, Feed]
    sets: dict[str, list[BandCredentials]]
    every_s: float
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def measure(self, phase: str) -> dict[str, Any]:
        return await _probe(self.fleet, self.feeds, self.sets[phase], self.every_s)

    async def stop(self) -> None:
        await self.fleet.stop()
        for reader in self.readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def _open_feed(feed: Feed, url: str, headers: dict[str, str]) -> asyncio.Task[None]:
    """The feed's reader, once the feed is live (a reader that fails to connect raises here)."""
    ready = asyncio.Event()
    reader = asyncio.create_task(feed.run(url, headers, ready))
    is_ready = asyncio.create_task(ready.wait())
    await asyncio.wait({reader, is_ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    is_ready.cancel()
    if reader.done():
        reader.result()
        raise RuntimeError(f"{url} closed before it was live")
    if not ready.is_set():
        reader.cancel()
        raise TimeoutError(f"{url} not live within 30 s")
    return reader


async def _start_probes(platform: BenchPlatform, plan: _Plan, broker: str, relay: RelayProcess | None) -> _Probes:
    n, big = plan.probes_per_phase, plan.big
    sets = {phase: platform.credentials[big + i * n : big + (i + 1) * n] for i, phase in enumerate(plan.phases)}
    probe_fleet = Fleet(
        [c for chunk in sets.values() for c in chunk],
        host="127.0.0.1",
        port=platform.band_port,
        topics=TOPICS,
        heartbeats=False,
        repeat=RepeatPolicy(5, 60),
        reconnect_first_s=0.2,
        # amqtt drops connections when hundreds knock at once (bench/amqtt_cap.py connects 50 at a time).
        connect_concurrency=100 if broker == "mosquitto" else 20,
    )
    probes = _Probes(platform.topology, probe_fleet, {"console": Feed(console_alarm)}, sets, plan.every_s)
    cookie = await _staff_login(platform)
    probes.readers.append(
        await _open_feed(probes.feeds["console"], f"ws://127.0.0.1:{platform.console_port}/ws/live", cookie)
    )
    if relay is not None:
        probes.feeds["relay"] = Feed(relay_alarm)
        probes.readers.append(await _open_feed(probes.feeds["relay"], relay.ws_url, {}))
    # amqtt closes a few connections when many knock at once: probe with those that got in.
    await probe_fleet.start(tolerate_failures=True)
    return probes


async def _storm_row(platform: BenchPlatform, probes: _Probes, plan: _Plan, interval: float) -> dict[str, Any]:
    """Restart the broker under the big fleet, probe as soon as the probes are back."""
    assert platform.mosquitto is not None
    probes_before = probes.fleet.connected
    storm_started = time.perf_counter()
    await asyncio.to_thread(platform.mosquitto.stop)
    await asyncio.to_thread(platform.mosquitto.start)
    restart_s = time.perf_counter() - storm_started
    while probes.fleet.connected < probes_before:  # noqa: ASYNC110 - sampling
        await asyncio.sleep(0.05)
    result = await probes.measure("storm")
    storm_s = time.perf_counter() - storm_started
    storm_sys = await platform.sys_connected()
    return row(
        probes.topology,
        "reconnect storm",
        result,
        heartbeat_rate=round(plan.big / interval, 1),
        connected_bands=plan.big + len(probes.fleet.bands),
        broker_says_connected=storm_sys,
        broker_restart_s=round(restart_s, 2),
        probes_done_after_s=round(storm_s, 1),
    )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 1) for name, value in values.items()}


async def _big_fleet_rows(
    platform: BenchPlatform,
    probes: _Probes,
    plan: _Plan,
    args: argparse.Namespace,
    rss_idle: dict[str, float],
    relay: RelayProcess | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The big fleet connected (and, on Mosquitto, the broker restarted under it): rows and memory."""
    rows: list[dict[str, Any]] = []
    big = plan.big
    fleet, ready_info = await FleetProcess.start(
        port=platform.band_port,
        secrets=platform.secrets_path,
        bands=big,
        interval=args.interval,
        concurrency=100 if args.broker == "mosquitto" else 20,
    )
    print(f"{big} bands connected in {ready_info['connect_s']} s", flush=True)
    await asyncio.sleep(plan.settle_s)
    sys_connected = await platform.sys_connected()
    result = await probes.measure("fleet")
    rss = platform.process_rss_mib()
    memory = {
        "topology": platform.topology,
        "bands_connected": big,
        "broker_sys_clients_connected": sys_connected,
        "processes_rss_idle_mib": _rounded(rss_idle),
        "processes_rss_mib": _rounded(rss),
        "platform_rss_idle_mib": round(sum(rss_idle.values()), 1),
        "platform_rss_mib": round(sum(rss.values()), 1),
        "broker_rss_mib": round(platform.broker_rss_mib(), 1),
        "relay_rss_mib": round(rss_mib(relay.process.pid), 1) if relay is not None else None,
        "target_mib": 1024,
    }
    rows.append(
        row(
            probes.topology,
            f"{big:,} bands",
            result,
            heartbeat_rate=round(big / args.interval, 1),
            connected_bands=big + len(probes.fleet.bands),
            broker_says_connected=sys_connected,
        )
    )
    print(rows[-1], memory, flush=True)
    if "storm" in plan.phases:
        rows.append(await _storm_row(platform, probes, plan, args.interval))
        print(rows[-1], flush=True)
    fleet_report = await fleet.finish()
    print(f"fleet: {fleet_report}", flush=True)
    return rows, memory


async def _busy_row(platform: BenchPlatform, probes: _Probes, plan: _Plan) -> dict[str, Any]:
    busy_fleet, _ = await FleetProcess.start(
        port=platform.band_port, secrets=platform.secrets_path, bands=plan.busy, interval=plan.busy_interval
    )
    await asyncio.sleep(plan.settle_s)
    result = await probes.measure("busy")
    busy_report = await busy_fleet.finish()
    return row(
        probes.topology,
        "heartbeat flood",
        result,
        heartbeat_rate=busy_report.get("rate"),
        connected_bands=plan.busy + len(probes.fleet.bands),
    )


async def _start_relay(platform: BenchPlatform) -> RelayProcess | None:
    """The bare relay on the platform's listener with the service account, on the gateway's alarm topics."""
    if platform.mosquitto is None:
        return None  # the embedded broker's service account is opaska run's own
    return await RelayProcess.start(
        port=platform.mosquitto.service_port,
        username=platform.mosquitto.service_username,
        password=platform.mosquitto.service_password,
        filters=[TOPICS.uplink("+", kind) for kind in sorted(PRIORITY_KINDS)],
        log_path=platform.workdir / "bare-relay.log",
    )


async def _run_topology(args: argparse.Namespace, plan: _Plan, database: str, topology: str) -> dict[str, Any]:
    """Every phase on a fresh database, broker and bands, with the platform's processes in `topology`."""
    total = plan.big + plan.probes_per_phase * len(plan.phases)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"opaska-b2-{topology}-") as tmp:
        started = time.perf_counter()
        platform = await start_platform(
            broker=args.broker, database=database, bands=total, workdir=Path(tmp), topology=topology
        )
        print(
            f"[{topology}] platform up ({', '.join(platform.processes)}) with {total} bands provisioned "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        relay: RelayProcess | None = None
        try:
            relay = await _start_relay(platform)
            probes = await _start_probes(platform, plan, args.broker, relay)
            rss_idle = platform.process_rss_mib()
            result = await probes.measure("idle")
            rows.append(row(topology, "idle", result, heartbeat_rate=0, connected_bands=len(probes.fleet.bands)))
            print(rows[-1], flush=True)
            fleet_rows, memory = await _big_fleet_rows(platform, probes, plan, args, rss_idle, relay)
            rows += fleet_rows
            if "busy" in plan.phases:
                rows.append(await _busy_row(platform, probes, plan))
                print(rows[-1], flush=True)
            await probes.stop()
            db_settings = await platform.database.settings()
            broker = platform.broker_record()
        finally:
            relay_report = await relay.finish() if relay is not None else None
            await platform.close()
    return {
        "topology": topology,
        "rows": rows,
        "memory": memory,
        "database_settings": db_settings,
        "broker": broker,
        "relay": relay_report,
    }


def _topologies(choice: str | None, broker: str, database: str) -> list[str]:
    """What runs: `both` by default where production's topology can (Mosquitto and PostgreSQL)."""
    can_compose = broker == "mosquitto" and database == "postgresql"
    wanted = ["one", "compose"] if (choice or ("both" if can_compose else "one")) == "both" else [choice or "one"]
    if "compose" in wanted and not can_compose:
        print(f"the compose topology needs Mosquitto and PostgreSQL, not {broker} and {database}: not run")
        wanted.remove("compose")
    if not wanted:
        raise SystemExit("nothing to run")
    return wanted


async def main(args: argparse.Namespace) -> dict[str, Any]:
    plan = _Plan.from_args(args)
    database = args.database
    if database == "postgresql" and not await postgres_available():
        print("PostgreSQL not reachable: B2 on SQLite")
        database = "sqlite"
    topologies = _topologies(args.topology, args.broker, database)
    runs = [await _run_topology(args, plan, database, topology) for topology in topologies]
    rows = [r for run in runs for r in run["rows"]]
    memory = {run["topology"]: run["memory"] for run in runs}
    broker = runs[0]["broker"]
    print_report(rows, memory, broker["broker"], database)
    result_doc = {
        "benchmark": "B2 alarm latency and memory",
        "database": database,
        "database_settings": runs[0]["database_settings"],
        **broker,
        "topologies": topologies,
        "target": TARGET,
        "scale": scale(args.quick),
        "heartbeat_interval_s": args.interval,
        "probe_every_s": plan.every_s,
        "rows": rows,
        "memory": memory,
        "relay": {run["topology"]: run["relay"] for run in runs},
    }
    # The default set keeps the usual name; another set is named for what it ran.
    default = _topologies(None, args.broker, database) if args.topology else topologies
    name = f"b2_latency_{args.broker}_{database}" + ("" if topologies == default else "_" + "_".join(topologies))
    # A reduced run must not pass for the full one.
    factor = scale(args.quick)
    write_results(name + ("_quick" if args.quick else "" if factor == 1 else f"_scale{factor:g}"), result_doc)
    return result_doc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--broker", choices=("mosquitto", "embedded"), default="mosquitto")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--topology",
        choices=("one", "compose", "both"),
        default=None,
        help="one: `opaska run`; compose: gateway, engine and console as three processes (Mosquitto and "
        "PostgreSQL only); default: both where they can run, else one",
    )
    parser.add_argument("--interval", type=float, default=60.0, help="heartbeat interval of the big fleet (s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
