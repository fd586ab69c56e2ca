"""What every benchmark shares: the machine record, fsync rate, throwaway databases, tables, results.

Scale: `BENCH_SCALE` (default 1.0) multiplies band counts, rates and durations; `--quick` in each
script sets it to 0.02 or so, for a run of seconds (the tests use it; no figure from it means much).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db.engine import make_engine
from opaska.db.migrate import upgrade_to_head

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def scale(quick: bool) -> float:
    return 0.02 if quick else float(os.environ.get("BENCH_SCALE", "1.0"))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "-"


def _mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def mosquitto_version() -> str:
    try:
        out = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, timeout=5, check=False)
        return (out.stdout or out.stderr).splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "-"


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False, timeout=5
        ).stdout.strip()
    except OSError:
        return "-"


def machine() -> dict[str, Any]:
    """Where and with what a result was measured."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _mem_total_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in ("paho-mqtt", "amqtt", "sqlalchemy", "asyncpg", "aiosqlite", "fastapi")},
        "mosquitto": mosquitto_version(),
        "commit": git_commit(),
        "load_average_at_start": os.getloadavg(),
        "note": "shared 2-core machine: other engineers' tests run at the same time; compare ratios within a run",
    }


def fsync_rate(directory: Path, seconds: float = 2.0) -> dict[str, float]:
    """Writes of 4 KiB each followed by fdatasync, per second, on the filesystem of `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"fsync-probe-{uuid.uuid4().hex[:6]}"
    block = os.urandom(4096)
    count = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            os.pwrite(fd, block, (count % 256) * 4096)
            os.fdatasync(fd)
            count += 1
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
        path.unlink()
    return {"fsyncs_per_s": round(count / elapsed, 1), "seconds": round(elapsed, 2)}


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    if not values_ms:
        return {"n": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(values_ms)
    cut = [ordered[0]] * 99 if len(ordered) == 1 else statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50_ms": round(cut[49], 2),
        "p99_ms": round(cut[98], 2),
        "max_ms": round(ordered[-1], 2),
    }


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    print(f"\n{title}")
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=str))
    print(f"\nresults: {path.relative_to(REPO)}")
    return path


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# -- throwaway databases ----------------------------------------------------------------------


@dataclass
class BenchDatabase:
    kind: str  # "sqlite" or "postgresql"
    url: str
    _admin: str = ""
    _name: str = ""

    async def drop(self) -> None:
        if self.kind == "postgresql":
            await _run_sql(self._admin, f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')
        else:
            database = make_url(self.url).database
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - after the run

    async def settings(self) -> dict[str, str]:
        """The durability settings that decide what a commit costs."""
        engine = make_engine(self.url)
        try:
            async with engine.connect() as connection:
                if self.kind == "postgresql":
                    names = ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "server_version")
                    return {n: str((await connection.execute(text(f"SHOW {n}"))).scalar()) for n in names}
                return {
                    n: str((await connection.execute(text(f"PRAGMA {n}"))).scalar())
                    for n in ("journal_mode", "synchronous")
                }
        finally:
            await engine.dispose()


async def _run_sql(url: str, *statements: str) -> None:
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def create_database(kind: str, workdir: Path) -> BenchDatabase:
    """A fresh database migrated by Alembic: a file under `workdir`, or a new PostgreSQL database."""
    if kind == "postgresql":
        name = f"opaska_bench_{uuid.uuid4().hex[:10]}"
        await _run_sql(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        database = BenchDatabase("postgresql", url, PG_ADMIN_URL, name)
    else:
        workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before the run
        database = BenchDatabase("sqlite", f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}")
    engine = make_engine(database.url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()
    return database


async def postgres_available() -> bool:
    try:
        await asyncio.wait_for(_run_sql(PG_ADMIN_URL, "SELECT 1"), 5)
    except Exception:
        return False
    return True
