"""A fleet in a process of its own (so the benchmark's own loop is not the load's): heartbeats only.

    python -m bench.fleet_proc --port P --secrets FILE --bands N --interval S [--seconds T]

Prints one JSON line when every band is connected (`{"ready": ...}`), then runs the heartbeats
until `--seconds` pass or SIGTERM, then prints one JSON line with what it sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from gateway.topics import TopicScheme
from simulator.fleet import Fleet
from simulator.provision import read_secrets


async def run(args: argparse.Namespace) -> dict[str, Any]:
    credentials = read_secrets(Path(args.secrets))[args.offset : args.offset + args.bands]
    fleet = Fleet(
        credentials,
        host=args.host,
        port=args.port,
        topics=TopicScheme(args.root),
        seed=args.seed,
        heartbeat_interval_s=args.interval,
        connect_concurrency=args.concurrency,
        reconnect_first_s=args.reconnect_first,
    )
    started = time.perf_counter()
    await fleet.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(json.dumps({"ready": fleet.connected, "connect_s": round(time.perf_counter() - started, 2)}), flush=True)
    heartbeats_from = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.seconds)
    elapsed = time.perf_counter() - heartbeats_from
    stats = fleet.stats.as_dict()
    connected = fleet.connected
    await fleet.stop()
    return {
        "sent": stats["sent"].get("heartbeat", 0),
        "seconds": round(elapsed, 2),
        "rate": round(stats["sent"].get("heartbeat", 0) / elapsed, 1),
        "connected_at_end": connected,
        "connects": stats["connects"],
        "connections_lost": stats["connections_lost"],
        "connect_failures": stats["connect_failures"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secrets", required=True)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--bands", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--root", default="opaska/v1")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--reconnect-first", type=float, default=1.0)
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()


class FleetProcess:
    """The parent's handle on a fleet process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(
        cls,
        *,
        port: int,
        secrets: Path,
        bands: int,
        interval: float,
        offset: int = 0,
        seconds: float = 3600.0,
        seed: int = 1,
        reconnect_first_s: float = 1.0,
        concurrency: int = 100,
    ) -> tuple[FleetProcess, dict[str, Any]]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.fleet_proc",
            "--port",
            str(port),
            "--secrets",
            str(secrets),
            "--offset",
            str(offset),
            "--bands",
            str(bands),
            "--interval",
            str(interval),
            "--seconds",
            str(seconds),
            "--seed",
            str(seed),
            "--reconnect-first",
            str(reconnect_first_s),
            "--concurrency",
            str(concurrency),
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 300)
        if not line:
            await process.wait()
            raise RuntimeError(f"fleet process exited ({process.returncode}) before its bands connected")
        return cls(process), json.loads(line)

    async def finish(self, *, stop: bool = True, timeout: float = 60.0) -> dict[str, Any]:
        """Stop it (or, with stop=False, wait for its --seconds to pass) and return its report."""
        if stop and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        await self.process.wait()
        return json.loads(line) if line else {}
