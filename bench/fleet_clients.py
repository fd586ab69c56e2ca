"""Which MQTT client can hold 10,000 bands in one asyncio loop? (How the simulator's client was chosen.)

Each client runs in a child process of its own against a bare Mosquitto on a free port (anonymous,
no ACL: only the clients are measured). For N bands: time to connect and subscribe them all (100
at a time), then CPU of the idle fleet over 10 s (no messages, only what the clients do to stay
connected), and resident memory:

- `link`: `simulator.mqtt311.MqttLink`, a minimal MQTT 3.1.1 asyncio Protocol (the fleet's one
  pinger task sends keepalives);
- `paho-asyncio`: `core.mqtt.client.AsyncMqttClient`, paho 2.x driven by add_reader/add_writer
  (paho's "loop_asyncio" example), one misc-loop task per client waking every second.

paho's own network thread per client (`loop_start`) is not measured: 10,000 threads is what the
brief rules out.

    .venv/bin/python -m bench.fleet_clients [--quick] [--bands 1000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import cpu_seconds, print_table, rss_mib, scale, write_results
from simulator.lab.ports import free_port

IDLE_S = 10.0


async def _link_fleet(port: int, bands: int) -> list[Any]:
    from simulator.mqtt311 import open_link

    slots = asyncio.Semaphore(100)

    async def one(i: int) -> Any:
        async with slots:
            link = await open_link(
                "127.0.0.1", port, client_id=f"band-L{i}", username=None, password=None, on_message=lambda t, p: None
            )
            await link.subscribe(f"opaska/v1/bands/L{i}/down/#")
            return link

    return list(await asyncio.gather(*(one(i) for i in range(bands))))


async def _paho_fleet(port: int, bands: int) -> list[Any]:
    from core.mqtt.client import AsyncMqttClient
    from core.mqtt.endpoint import MqttEndpoint

    slots = asyncio.Semaphore(100)

    async def one(i: int) -> Any:
        async with slots:
            client = AsyncMqttClient(
                MqttEndpoint("127.0.0.1", port), client_id=f"band-P{i}", protocol="3.1.1", keepalive_s=60
            )
            await client.connect()
            await client.subscribe([(f"opaska/v1/bands/P{i}/down/#", 1)])
            return client

    return list(await asyncio.gather(*(one(i) for i in range(bands))))


async def _worker(kind: str, port: int, bands: int, idle_s: float) -> dict[str, Any]:
    import os

    pid = os.getpid()
    rss_before = rss_mib(pid)
    started = time.perf_counter()
    fleet = await (_link_fleet(port, bands) if kind == "link" else _paho_fleet(port, bands))
    connect_s = time.perf_counter() - started
    if kind == "link":
        # The fleet's pinger: one task for all links (what simulator.fleet.Fleet runs).
        async def pinger() -> None:
            while True:
                await asyncio.sleep(5)
                for link in fleet:
                    link.ping()

        task = asyncio.create_task(pinger())
    cpu_before = cpu_seconds(pid)
    await asyncio.sleep(idle_s)
    idle_cpu = (cpu_seconds(pid) - cpu_before) / idle_s
    rss = rss_mib(pid)
    if kind == "link":
        task.cancel()
    return {
        "client": kind,
        "bands": bands,
        "connect_s": round(connect_s, 2),
        "connects_per_s": round(bands / connect_s, 0),
        "idle_cpu_pct": round(idle_cpu * 100, 1),
        "rss_mib": round(rss, 1),
        "kib_per_band": round((rss - rss_before) * 1024 / bands, 1),
        "threads": len(os.listdir(f"/proc/{pid}/task")),
    }


def _run_child(kind: str, port: int, bands: int, idle_s: float) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.fleet_clients",
            "--worker",
            kind,
            "--port",
            str(port),
            "--bands",
            str(bands),
            "--idle",
            str(idle_s),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if out.returncode != 0:
        return {"client": kind, "bands": bands, "error": out.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(args: argparse.Namespace) -> dict[str, Any]:
    factor = scale(args.quick)
    counts = [max(10, int(int(n) * factor)) for n in args.bands.split(",")]
    idle_s = max(1.0, IDLE_S * min(1.0, factor * 5))
    rows = []
    with tempfile.TemporaryDirectory(prefix="opaska-fleet-clients-") as tmp:
        port = free_port()
        config = Path(tmp) / "mosquitto.conf"
        # Logged to a file: a pipe nobody reads fills up and blocks Mosquitto at the first burst of connects.
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\npersistence false\nuser root\n"
            f"log_dest file {tmp}/mosquitto.log\n"
        )
        broker = subprocess.Popen(
            ["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(0.5)
            for bands in counts:
                for kind in ("link", "paho-asyncio"):
                    row = _run_child(kind, port, bands, idle_s)
                    print(row, flush=True)
                    rows.append(row)
                    time.sleep(1)
        finally:
            broker.terminate()
            broker.wait(10)
    print_table(
        "MQTT clients for a fleet in one asyncio loop",
        rows,
        ["client", "bands", "connect_s", "connects_per_s", "idle_cpu_pct", "rss_mib", "kib_per_band", "threads"],
    )
    result = {"benchmark": "fleet MQTT clients", "idle_s": idle_s, "rows": rows}
    write_results("fleet_clients" + ("_quick" if args.quick else ""), result)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bands", default="1000,10000")
    parser.add_argument("--worker", choices=("link", "paho-asyncio"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--idle", type=float, default=IDLE_S)
    return parser.parse_args(argv)


if __name__ == "__main__":
    parsed = parse_args()
    if parsed.worker:
        print(json.dumps(asyncio.run(_worker(parsed.worker, parsed.port, int(parsed.bands), parsed.idle))))
    else:
        main(parsed)
