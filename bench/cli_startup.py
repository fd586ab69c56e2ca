"""B4: how long the `opaska` command takes to answer, against `python -c pass` in the same run.

    .venv/bin/python -m bench.cli_startup [--quick] [--runs N]

Each command runs N times as a new process (interleaved, so the machine's load hits all alike):
`python -c pass` (the interpreter's own start), `python -c "import sqlalchemy.ext.asyncio,
pydantic_settings"` (the libraries every database command needs: the floor), `opaska --help`,
and `opaska municipality list` on a migrated SQLite database. Medians, and each as a multiple of
the bare interpreter. Writes bench/results/cli_startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS, machine

REPO = Path(__file__).resolve().parent.parent


def _time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    with tempfile.TemporaryDirectory() as directory:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPASKA_")}
        env["OPASKA_DATABASE_URL"] = f"sqlite+aiosqlite:///{directory}/opaska.db"
        opaska = [sys.executable, "-m", "opaska.cli"]
        subprocess.run([*opaska, "migrate"], env=env, cwd=REPO, check=True, capture_output=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "import sqlalchemy + pydantic_settings": [
                sys.executable,
                "-c",
                "import sqlalchemy.ext.asyncio, pydantic_settings",
            ],
            "opaska --help": [*opaska, "--help"],
            "opaska municipality list": [*opaska, "municipality", "list"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                times[name].append(_time(command, env))
    base = statistics.median(times["python -c pass"])
    rows = []
    print(f"{'command':40} {'median s':>9} {'max s':>7} {'× python':>9}")
    for name, samples in times.items():
        median = statistics.median(samples)
        rows.append({"command": name, "median_s": median, "max_s": max(samples), "times_python": median / base})
        print(f"{name:40} {median:9.3f} {max(samples):7.3f} {median / base:9.1f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("cli_startup_quick.json" if args.quick else "cli_startup.json")
    out.write_text(json.dumps({"machine": machine(), "runs": runs, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
