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
`alarm_received`. Memory: resident memory of `opaska run` (gateway, engine, console: the whole
platform) and of Mosquitto, sampled while the 10,000 bands are connected; the broker's own count of
connected clients is read from `$SYS/broker/clients/connected`.

    .venv/bin/python -m bench.latency [--quick] [--broker mosquitto|embedded] [--database postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.common import percentiles, postgres_available, print_table, scale, write_results
from bench.fleet_proc import FleetProcess
from bench.platform import ROOT, BenchPlatform, start_platform
from core.clock import SystemClock
from core.db.engine import make_engine, make_session_factory
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy
from simulator.fleet import BandCredentials, Fleet
from simulator.lab.staff import create_staff, log_in

TARGET_P99_MS = 100.0


class Console:
    """An operator's live feed: when did each band's alarm arrive."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}

    async def run(self, url: str, cookie: dict[str, str], ready: asyncio.Event) -> None:
        async with websockets.connect(url, additional_headers=cookie, max_size=None) as ws:
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") == "snapshot":
                    ready.set()
                    continue
                if message.get("type") != "alarm_event" or message.get("event", {}).get("type") != "raised":
                    continue
                serial = str(message.get("alarm", {}).get("band_serial"))
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


async def _probe(
    fleet: Fleet, console: Console, probes: list[BandCredentials], every_s: float, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Each probe band presses SOS once, `every_s` apart; latencies to the console and to alarm_received."""
    to_console: list[float] = []
    to_band: list[float] = []
    lost: list[str] = []

    async def one(credentials: BandCredentials) -> None:
        band = fleet.by_serial[credentials.serial]
        arrival = console.wait_for(band.serial)
        sent_at = time.perf_counter()
        press = asyncio.ensure_future(fleet.press(band, "sos", timeout=timeout_s))
        try:
            arrived = await asyncio.wait_for(arrival, timeout_s)
            to_console.append((arrived - sent_at) * 1000)
        except TimeoutError:
            lost.append(band.serial)
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
        "console": percentiles(to_console),
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


def _row(phase: str, result: dict[str, Any], **extra: Any) -> dict[str, Any]:
    console = result["console"]
    return {
        "phase": phase,
        "probes": console["n"],
        "p50_ms": console["p50_ms"],
        "p99_ms": console["p99_ms"],
        "max_ms": console["max_ms"],
        "ack_p50_ms": result["alarm_received"]["p50_ms"],
        "ack_p99_ms": result["alarm_received"]["p99_ms"],
        "not_arrived": len(result["not_arrived"]),
        "p99_under_100ms": console["n"] > 0 and console["p99_ms"] < TARGET_P99_MS and not result["not_arrived"],
        # The machine is shared: how busy it was says how much of a latency is waiting for a CPU.
        "load_avg_1m": round(os.getloadavg()[0], 1),
        **extra,
    }


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
    """The probe bands, a set per phase, and the console that sees their alarms arrive."""

    fleet: Fleet
    console: Console
    reader: asyncio.Task[None]
    sets: dict[str, list[BandCredentials]]
    every_s: float

    async def measure(self, phase: str) -> dict[str, Any]:
        return await _probe(self.fleet, self.console, self.sets[phase], self.every_s)

    async def stop(self) -> None:
        await self.fleet.stop()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader


async def _start_probes(platform: BenchPlatform, plan: _Plan, broker: str) -> _Probes:
    cookie = await _staff_login(platform)
    console = Console()
    ready = asyncio.Event()
    ws_url = f"ws://127.0.0.1:{platform.console_port}/ws/live"
    reader = asyncio.create_task(console.run(ws_url, cookie, ready))
    await asyncio.wait_for(ready.wait(), 30)
    n, big = plan.probes_per_phase, plan.big
    sets = {phase: platform.credentials[big + i * n : big + (i + 1) * n] for i, phase in enumerate(plan.phases)}
    probe_fleet = Fleet(
        [c for chunk in sets.values() for c in chunk],
        host="127.0.0.1",
        port=platform.band_port,
        topics=TopicScheme(ROOT),
        heartbeats=False,
        repeat=RepeatPolicy(5, 60),
        reconnect_first_s=0.2,
        # amqtt drops connections when hundreds knock at once (bench/amqtt_cap.py connects 50 at a time).
        connect_concurrency=100 if broker == "mosquitto" else 20,
    )
    # amqtt closes a few connections when many knock at once: probe with those that got in.
    await probe_fleet.start(tolerate_failures=True)
    return _Probes(probe_fleet, console, reader, sets, plan.every_s)


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
    return _row(
        "reconnect storm",
        result,
        heartbeat_rate=round(plan.big / interval, 1),
        connected_bands=plan.big + len(probes.fleet.bands),
        broker_says_connected=storm_sys,
        broker_restart_s=round(restart_s, 2),
        probes_done_after_s=round(storm_s, 1),
    )


async def _big_fleet_rows(
    platform: BenchPlatform, probes: _Probes, plan: _Plan, args: argparse.Namespace, rss_idle: float
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
    memory = {
        "bands_connected": big,
        "broker_sys_clients_connected": sys_connected,
        "opaska_rss_idle_mib": round(rss_idle, 1),
        "opaska_rss_mib": round(platform.opaska_rss_mib(), 1),
        "broker_rss_mib": round(platform.broker_rss_mib(), 1),
        "target_mib": 1024,
    }
    rows.append(
        _row(
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
    return _row(
        "heartbeat flood",
        result,
        heartbeat_rate=busy_report.get("rate"),
        connected_bands=plan.busy + len(probes.fleet.bands),
    )


def _print_report(rows: list[dict[str, Any]], memory: dict[str, Any], broker: str, database: str) -> None:
    print_table(
        f"B2 alarm latency: SOS published -> console WebSocket ({broker}, {database})",
        rows,
        [
            "phase",
            "connected_bands",
            "heartbeat_rate",
            "probes",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "ack_p99_ms",
            "not_arrived",
            "p99_under_100ms",
            "load_avg_1m",
        ],
    )
    print(
        f"\nmemory at {memory.get('bands_connected')} connected bands (broker's $SYS says "
        f"{memory.get('broker_sys_clients_connected')} clients): opaska run {memory.get('opaska_rss_mib')} MiB "
        f"(idle {memory.get('opaska_rss_idle_mib')}), broker {memory.get('broker_rss_mib')} MiB; target < 1024 MiB"
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    plan = _Plan.from_args(args)
    database = args.database
    if database == "postgresql" and not await postgres_available():
        print("PostgreSQL not reachable: B2 on SQLite")
        database = "sqlite"
    total = plan.big + plan.probes_per_phase * len(plan.phases)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="opaska-b2-") as tmp:
        started = time.perf_counter()
        platform = await start_platform(broker=args.broker, database=database, bands=total, workdir=Path(tmp))
        print(f"platform up with {total} bands provisioned in {time.perf_counter() - started:.1f} s", flush=True)
        try:
            probes = await _start_probes(platform, plan, args.broker)
            rss_idle = platform.opaska_rss_mib()
            result = await probes.measure("idle")
            rows.append(_row("idle", result, heartbeat_rate=0, connected_bands=len(probes.fleet.bands)))
            print(rows[-1], flush=True)
            fleet_rows, memory = await _big_fleet_rows(platform, probes, plan, args, rss_idle)
            rows += fleet_rows
            if "busy" in plan.phases:
                rows.append(await _busy_row(platform, probes, plan))
                print(rows[-1], flush=True)
            await probes.stop()
            db_settings = await platform.database.settings()
            broker = platform.broker_record()
        finally:
            await platform.close()
    _print_report(rows, memory, broker["broker"], database)
    result_doc = {
        "benchmark": "B2 alarm latency and memory",
        "database": database,
        "database_settings": db_settings,
        **broker,
        "heartbeat_interval_s": args.interval,
        "probe_every_s": plan.every_s,
        "rows": rows,
        "memory": memory,
    }
    name = f"b2_latency_{args.broker}_{database}" + ("_quick" if args.quick else "")
    write_results(name, result_doc)
    return result_doc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--broker", choices=("mosquitto", "embedded"), default="mosquitto")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--interval", type=float, default=60.0, help="heartbeat interval of the big fleet (s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
