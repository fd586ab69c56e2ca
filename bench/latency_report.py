"""B2's rows, table, target line and memory line (bench/latency.py measures; this says what it found)."""

from __future__ import annotations

import os
from typing import Any

from bench.common import print_table

TARGET_P99_MS = 50.0
TARGET_RELAY_RATIO = 3.0
TARGET = (
    f"SOS -> console p99 <= {TARGET_P99_MS:.0f} ms and <= {TARGET_RELAY_RATIO:.0f}x the bare relay's p99 "
    "(every SOS arrived)"
)
# The target before the relay was measured; kept in the rows to compare with earlier runs' files.
OLD_TARGET_P99_MS = 100.0

COLUMNS = [
    "topology",
    "phase",
    "connected_bands",
    "heartbeat_rate",
    "probes",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "ack_p99_ms",
    "not_arrived",
    "relay_p50_ms",
    "relay_p99_ms",
    "relay_not_arrived",
    "ratio_p50",
    "ratio_p99",
    "target",
    "load_avg_1m",
]


def _ratio(platform_ms: float, relay_ms: float) -> float | None:
    return round(platform_ms / relay_ms, 2) if relay_ms > 0 else None


def verdict(console: dict[str, float], relay: dict[str, float] | None, console_lost: int) -> str:
    """PASS or FAIL against TARGET; n/a where there is no relay to compare with (the embedded broker)."""
    if console["n"] == 0 or console_lost:
        return "FAIL"
    if relay is None or relay["n"] == 0:
        return "n/a"
    ok = console["p99_ms"] <= TARGET_P99_MS and console["p99_ms"] <= TARGET_RELAY_RATIO * relay["p99_ms"]
    return "PASS" if ok else "FAIL"


def row(topology: str, phase: str, result: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One phase of one topology: the console's latency, the relay's for the same presses, their ratio."""
    console = result["feeds"]["console"]
    relay = result["feeds"].get("relay")
    lost = result["not_arrived"]
    return {
        "topology": topology,
        "phase": phase,
        "probes": console["n"],
        "p50_ms": console["p50_ms"],
        "p99_ms": console["p99_ms"],
        "max_ms": console["max_ms"],
        "ack_p50_ms": result["alarm_received"]["p50_ms"],
        "ack_p99_ms": result["alarm_received"]["p99_ms"],
        "not_arrived": len(lost["console"]),
        "relay_probes": relay["n"] if relay else None,
        "relay_p50_ms": relay["p50_ms"] if relay else None,
        "relay_p99_ms": relay["p99_ms"] if relay else None,
        "relay_max_ms": relay["max_ms"] if relay else None,
        "relay_not_arrived": len(lost["relay"]) if relay else None,
        "ratio_p50": _ratio(console["p50_ms"], relay["p50_ms"]) if relay else None,
        "ratio_p99": _ratio(console["p99_ms"], relay["p99_ms"]) if relay else None,
        "target": verdict(console, relay, len(lost["console"])),
        "p99_under_100ms": console["n"] > 0 and console["p99_ms"] < OLD_TARGET_P99_MS and not lost["console"],
        # The machine is shared: how busy it was says how much of a latency is waiting for a CPU.
        "load_avg_1m": round(os.getloadavg()[0], 1),
        **extra,
    }


def _memory_line(memory: dict[str, Any]) -> str:
    processes = memory.get("processes_rss_mib", {})
    idle = memory.get("processes_rss_idle_mib", {})
    parts = ", ".join(f"{name} {mib} MiB (idle {idle.get(name)})" for name, mib in processes.items())
    relay = memory.get("relay_rss_mib")
    return (
        f"  {memory.get('topology')}: {parts}; platform {memory.get('platform_rss_mib')} MiB "
        f"(idle {memory.get('platform_rss_idle_mib')}); broker {memory.get('broker_rss_mib')} MiB"
        + (f"; bare relay {relay} MiB" if relay is not None else "")
        + f" (at {memory.get('bands_connected')} bands, $SYS says {memory.get('broker_sys_clients_connected')} clients)"
    )


def print_report(rows: list[dict[str, Any]], memory: dict[str, dict[str, Any]], broker: str, database: str) -> None:
    print_table(f"B2 alarm latency: SOS published -> console WebSocket ({broker}, {database})", rows, COLUMNS)
    print(f"\ntarget: {TARGET}")
    for r in rows:
        print(
            f"  {r['topology']:8} {r['phase']:16} {r['target']:4}  console p99 {r['p99_ms']} ms, "
            f"bare relay p99 {r['relay_p99_ms']} ms, ratio {r['ratio_p99']} (p50 ratio {r['ratio_p50']})"
        )
    print("\nresident memory with the big fleet connected (target: platform < 1024 MiB):")
    for record in memory.values():
        print(_memory_line(record))
