"""Every benchmark script runs, at a tiny scale (--quick), and writes its results. Nothing is timed here:
the figures of a tiny run mean nothing; this proves `make bench` will not fail on a broken script."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from bench.common import RESULTS, postgres_available
from simulator.lab.processes import REPO
from tests.support.require import need, need_program

# Its own brokers and databases (or none): the same on every stack.
pytestmark = pytest.mark.stack_independent


def _run(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _result(name: str) -> dict[str, object]:
    document = json.loads((RESULTS / f"{name}.json").read_text())
    assert document["machine"]["cores"]
    return dict(document)


def test_b3_commit_cost() -> None:
    out = _run("bench.commit_cost", "--quick", "--databases", "sqlite")
    assert "B3 durable commit cost" in out
    rows = _result("b3_commit_cost_sqlite_quick")["rows"]
    assert isinstance(rows, list)
    assert {row["mode"] for row in rows} == {"per-alarm", "grouped-100", "batch-100", "batch-500"}
    # The set-based path the alarm worker uses stores every alarm it is given as a new one.
    assert all(row["alarms"] > 0 for row in rows)
    assert all(row["alarms"] > 0 for row in rows)


def test_b1_ingest() -> None:
    need_program("mosquitto")
    out = _run("bench.ingest", "--quick", "--database", "sqlite")
    assert "B1 ingest ceiling" in out
    summary = _result("b1_ingest_sqlite_quick")["summary"]
    assert isinstance(summary, dict)
    assert summary["raw_ceiling_msg_s"] > 0
    assert summary["gateway_ceiling_msg_s"] > 0


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_b2_latency_and_memory(broker: str) -> None:
    if broker == "mosquitto":
        need_program("mosquitto")
    out = _run("bench.latency", "--quick", "--broker", broker, "--database", "sqlite")
    assert "B2 alarm latency" in out
    document = _result(f"b2_latency_{broker}_sqlite_quick")
    rows = document["rows"]
    assert isinstance(rows, list)
    assert all(row["not_arrived"] == 0 and row["probes"] > 0 for row in rows)
    memory = document["memory"]
    assert isinstance(memory, dict)
    assert set(memory) == {"one"}  # SQLite: no compose topology
    assert memory["one"]["platform_rss_mib"] > 0
    if broker == "mosquitto":
        assert len(rows) == 4  # idle, the big fleet, the reconnect storm, the heartbeat flood
        assert memory["one"]["broker_sys_clients_connected"]
        # The bare relay saw the same presses.
        assert all(row["relay_not_arrived"] == 0 and row["relay_probes"] == row["probes"] for row in rows)
        assert all(row["target"] in {"PASS", "FAIL"} for row in rows)
    else:
        assert len(rows) == 2  # idle, the fleet: amqtt cannot carry the flood
        assert all(row["target"] == "n/a" for row in rows)  # no relay on the embedded broker


def test_b2_compose_topology_and_bare_relay() -> None:
    """Production's topology (gateway, engine, console as three processes) beside the bare relay."""
    need_program("mosquitto")
    need(asyncio.run(postgres_available()), "PostgreSQL (BENCH_PG_URL) is not reachable")
    out = _run("bench.latency", "--quick", "--topology", "compose")
    assert "target: SOS -> console p99" in out
    document = _result("b2_latency_mosquitto_postgresql_compose_quick")
    rows = document["rows"]
    assert isinstance(rows, list)
    assert len(rows) == 4
    assert all(row["topology"] == "compose" for row in rows)
    assert all(row["not_arrived"] == 0 and row["relay_not_arrived"] == 0 and row["probes"] > 0 for row in rows)
    assert all(row["ratio_p99"] and row["target"] in {"PASS", "FAIL"} for row in rows)
    memory = document["memory"]
    assert isinstance(memory, dict)
    processes = memory["compose"]["processes_rss_mib"]
    assert set(processes) == {"gateway", "engine", "console"}
    assert all(mib > 0 for mib in processes.values())
    assert memory["compose"]["relay_rss_mib"] > 0


def test_fleet_clients() -> None:
    need_program("mosquitto")
    out = _run("bench.fleet_clients", "--quick", "--bands", "1000")
    assert "MQTT clients" in out
    rows = _result("fleet_clients_quick")["rows"]
    assert isinstance(rows, list)
    assert {row["client"] for row in rows} == {"link", "paho-asyncio"}
    assert all("error" not in row for row in rows)
