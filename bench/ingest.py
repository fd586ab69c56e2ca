"""B1: the ingest ceiling. The highest heartbeat rate the gateway's full path (validate, persist, ack)
sustains without loss, against the raw ceiling: a bare paho subscriber counting the same load from
the same broker, in the same run.

Set-up (bench/platform.py): a fresh database with N bands (each its own secret and resident),
Mosquitto with the shipped config and the rendered password/ACL files, and `opaska run` (the
whole platform) on Mosquitto's platform listener. The load is a fleet process (bench/fleet_proc.py:
N bands over N connections of their own, each band publishing QoS 1 heartbeats at interval N/rate).

Steps of rising rate, each `--step` seconds. A step is *sustained* if, within 3 s after the load
stops, the consumer has counted every heartbeat the fleet sent (raw: messages delivered to the paho
subscriber; gateway: `opaska_band_messages_total{kind="heartbeat"}`, counted after the batch
commit). The ceiling is the highest sustained rate; the steps stop at the first failure, or when
the fleet process itself cannot send at the rate asked (then the ceiling is the load's, and says so).
Memory: the platform's resident memory, sampled every 0.5 s, at the start and at its highest.

    .venv/bin/python -m bench.ingest [--quick] [--database postgresql|sqlite]

The embedded amqtt broker is not measured here: it cannot carry the load (bench/amqtt_cap.py:
about 700 msg/s with 100 bands, 120 with 3,000).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import postgres_available, print_table, scale, write_results
from bench.fleet_proc import FleetProcess
from bench.platform import ROOT, BenchPlatform, start_platform

RATES = (500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 8000, 10000, 12000)
DRAIN_S = 3.0


class RawSubscriber:
    """A bare paho subscriber (its own network thread, MQTT 5, QoS 1) counting uplink messages."""

    def __init__(self, platform: BenchPlatform) -> None:
        assert platform.mosquitto is not None
        self.count = 0
        self._lock = threading.Lock()
        self.client = paho.Client(
            # MQTT 5, as the gateway speaks to an external broker: the same decoding work per message.
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id="bench-raw",
            protocol=paho.MQTTv5,
        )
        self.client.username_pw_set(platform.mosquitto.service_username, platform.mosquitto.service_password)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(f"{ROOT}/bands/+/up/#", qos=1)
        self.client.connect("127.0.0.1", platform.mosquitto.service_port, keepalive=60)
        self.client.loop_start()

    def _on_message(self, _c: paho.Client, _u: Any, _m: paho.MQTTMessage) -> None:
        with self._lock:
            self.count += 1

    async def counted(self) -> float:
        return float(self.count)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def _step(
    platform: BenchPlatform,
    counter: Callable[[], Awaitable[float]],
    *,
    bands: int,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    before = await counter()
    rss: list[float] = []
    fleet, ready = await FleetProcess.start(
        port=platform.band_port, secrets=platform.secrets_path, bands=bands, interval=bands / rate, seconds=seconds
    )
    done = asyncio.ensure_future(fleet.finish(stop=False, timeout=seconds + 120))
    while not done.done():
        rss.append(platform.opaska_rss_mib())
        await asyncio.sleep(0.5)
    report = done.result()
    sent = report["sent"]
    deadline = time.monotonic() + DRAIN_S
    delivered = await counter() - before
    while delivered < sent and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        delivered = await counter() - before
    return {
        "rate_asked": rate,
        "rate_sent": report["rate"],
        "sent": sent,
        "delivered": int(delivered),
        "missing": int(sent - delivered),
        "sustained": delivered >= sent,
        "load_kept_up": report["rate"] >= 0.9 * rate,
        "connect_s": ready["connect_s"],
        "rss_max_mib": round(max(rss), 1) if rss and max(rss) else None,
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


async def _ramp(
    platform: BenchPlatform,
    consumer: str,
    counter: Callable[[], Awaitable[float]],
    *,
    bands: int,
    rates: list[float],
    seconds: float,
) -> tuple[list[dict[str, Any]], float, bool]:
    rows = []
    ceiling, load_bound = 0.0, False
    for rate in rates:
        row = {"consumer": consumer, **await _step(platform, counter, bands=bands, rate=rate, seconds=seconds)}
        print(row, flush=True)
        rows.append(row)
        if not row["sustained"]:
            break
        ceiling = max(ceiling, row["rate_sent"])
        if not row["load_kept_up"]:
            load_bound = True
            break
        await asyncio.sleep(1.0 if seconds > 1 else 0.1)
    return rows, ceiling, load_bound


async def main(args: argparse.Namespace) -> dict[str, Any]:
    factor = scale(args.quick)
    bands = max(20, int(1000 * min(1.0, factor * 5)))
    seconds = 1.0 if args.quick else max(2.0, 10.0 * factor)
    rates = [200.0] if args.quick else [float(r) for r in RATES]
    database = args.database
    if database == "postgresql" and not await postgres_available():
        print("PostgreSQL not reachable: B1 on SQLite")
        database = "sqlite"
    with tempfile.TemporaryDirectory(prefix="opaska-b1-") as tmp:
        platform = await start_platform(
            broker="mosquitto", database=database, bands=bands, workdir=Path(tmp), opaska=False
        )
        try:
            raw = RawSubscriber(platform)
            await asyncio.sleep(0.5)
            try:
                raw_rows, raw_ceiling, raw_bound = await _ramp(
                    platform, "raw paho", raw.counted, bands=bands, rates=rates, seconds=seconds
                )
            finally:
                raw.close()
            await platform.start_opaska()
            rss_idle = platform.opaska_rss_mib()

            async def gateway_count() -> float:
                return (await platform.metrics()).get("heartbeat", 0.0)

            gw_rows, gw_ceiling, gw_bound = await _ramp(
                platform, "gateway", gateway_count, bands=bands, rates=rates, seconds=seconds
            )
            db_settings = await platform.database.settings()
            broker = platform.broker_record()
        finally:
            await platform.close()
    ratio = gw_ceiling / raw_ceiling if raw_ceiling else 0.0
    rows = raw_rows + gw_rows
    print_table(
        f"B1 ingest ceiling (Mosquitto, {database}, {bands} bands, {seconds:.0f} s steps)",
        rows,
        [
            "consumer",
            "rate_asked",
            "rate_sent",
            "sent",
            "delivered",
            "missing",
            "sustained",
            "rss_max_mib",
            "load_avg_1m",
        ],
    )
    summary = {
        "raw_ceiling_msg_s": raw_ceiling,
        "raw_ceiling_load_bound": raw_bound,
        "gateway_ceiling_msg_s": gw_ceiling,
        "gateway_ceiling_load_bound": gw_bound,
        "ratio": round(ratio, 3),
        "target_ratio": 0.6,
        "platform_rss_idle_mib": round(rss_idle, 1),
    }
    print(
        f"\nraw ceiling {raw_ceiling:,.0f} msg/s{' (load-bound)' if raw_bound else ''}, gateway "
        f"{gw_ceiling:,.0f} msg/s{' (load-bound)' if gw_bound else ''}: ratio {ratio:.0%} (target >= 60 %)"
    )
    result = {
        "benchmark": "B1 ingest ceiling",
        "bands": bands,
        "step_s": seconds,
        "database": database,
        "database_settings": db_settings,
        **broker,
        "summary": summary,
        "rows": rows,
    }
    write_results(f"b1_ingest_{database}" + ("_quick" if args.quick else ""), result)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
