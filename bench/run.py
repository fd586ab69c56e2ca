"""`make bench`: every benchmark, on embedded defaults and on Mosquitto + PostgreSQL, one after another.

    .venv/bin/python -m bench.run [--quick] [--only b1,b2,b3,amqtt,clients]

Each benchmark runs as its own process (a crash in one does not stop the others), prints its table
and writes its JSON to bench/results/; this writes bench/results/summary.json listing them.
BENCH_SCALE (default 1) scales band counts, rates and durations; --quick runs a tiny version of each
(about a minute in all: figures from it mean nothing, it proves the scripts work).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from bench.common import RESULTS, machine

# (name, group, module, arguments, arguments when quick)
PLAN: list[tuple[str, str, str, list[str], list[str]]] = [
    ("clients", "simulator", "bench.fleet_clients", [], []),
    ("b4", "command line", "bench.cli_startup", [], []),
    ("b3", "embedded defaults (SQLite)", "bench.commit_cost", ["--databases", "sqlite"], []),
    ("amqtt", "embedded defaults (SQLite)", "bench.amqtt_cap", [], ["--bands", "20", "--seconds", "1"]),
    ("b2", "embedded defaults (SQLite)", "bench.latency", ["--broker", "embedded", "--database", "sqlite"], []),
    ("b3", "Mosquitto + PostgreSQL", "bench.commit_cost", ["--databases", "postgresql"], []),
    ("b1", "Mosquitto + PostgreSQL", "bench.ingest", ["--database", "postgresql"], []),
    ("b2", "Mosquitto + PostgreSQL", "bench.latency", ["--broker", "mosquitto", "--database", "postgresql"], []),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated: clients, b1, b2, b3, b4, amqtt")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    runs: list[dict[str, Any]] = []
    for name, group, module, arguments, quick_arguments in PLAN:
        if only and name not in only:
            continue
        command = [sys.executable, "-m", module, *arguments]
        if args.quick:
            command += quick_arguments if module == "bench.amqtt_cap" else ["--quick", *quick_arguments]
        print(f"\n=== {name}: {group}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        code = subprocess.run(command, check=False).returncode
        runs.append(
            {"name": name, "group": group, "command": command[1:], "exit": code, "seconds": time.monotonic() - started}
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = RESULTS / ("summary_quick.json" if args.quick else "summary.json")
    summary.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=2))
    print("\n=== done")
    for run in runs:
        print(f"{run['name']:8} {run['group']:28} exit {run['exit']}  {run['seconds']:.0f} s")
    return 1 if any(run["exit"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
