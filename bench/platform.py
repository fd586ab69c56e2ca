"""The platform under test: a migrated database with N provisioned bands, a broker, and `opaska run`.

- `mosquitto`: Mosquitto 2 with the shipped `config/mosquitto.conf` (its band listener and its
  platform listener on free ports) and the password and ACL files rendered by the platform's own
  renderer, like `tests/support/mosquitto.py`; plus one ACL line letting the service account read
  `$SYS/#`, so the benchmark can read the broker's own count of connected clients.
- `embedded`: `opaska run`'s embedded amqtt broker, authenticating bands against the registry.

Topology `one`: `opaska run`, the whole platform in one process (gateway, engine, console), as a
small centre runs it. Topology `compose`: `opaska gateway`, `opaska engine` and `opaska console` as
three processes on the same database and broker URL, each /metrics on a port of its own, as
docker-compose.yml runs them in production (an external broker only). The platform's memory is the
sum of its processes' resident memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO, BenchDatabase, create_database, rss_mib
from core.clock import SystemClock
from core.db.engine import make_engine, make_session_factory
from simulator.fleet import BandCredentials
from simulator.lab.mosquitto import MosquittoProcess
from simulator.lab.ports import free_port, free_port_pair
from simulator.lab.processes import opaska_env, wait_healthy
from simulator.mqtt311 import LinkError, open_link
from simulator.provision import provision_fleet, write_secrets

ROOT = "opaska/v1"


@dataclass
class BenchPlatform:
    broker: str  # "mosquitto" or "embedded"
    database: BenchDatabase
    workdir: Path
    credentials: list[BandCredentials]
    municipality_id: int
    band_port: int
    secrets_path: Path
    mosquitto: MosquittoProcess | None = None
    console_port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    topology: str = "one"  # "one" (`opaska run`) or "compose" (gateway, engine, console apart)
    # name ("opaska run", "gateway", "engine", "console") -> its process
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    gateway_metrics_port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "opaska-run.log"

    @property
    def metrics_url(self) -> str:
        """Where the gateway's counters are: the console's /metrics in one process, the gateway's apart."""
        if self.topology == "compose":
            return f"http://127.0.0.1:{self.gateway_metrics_port}/metrics"
        return f"{self.base_url}/metrics"

    def broker_record(self) -> dict[str, Any]:
        if self.mosquitto is not None:
            config = self.mosquitto.config_path.read_text()
            return {
                "broker": "mosquitto",
                "config": "config/mosquitto.conf as shipped, listeners on free ports (tests/support/mosquitto.py)",
                "settings": [
                    line
                    for line in config.splitlines()
                    if line.startswith(("max_", "persistence ", "queue_", "set_tcp", "autosave", "per_listener"))
                ],
            }
        return {"broker": "embedded amqtt", "config": "opaska run defaults (OPASKA_MQTT_URL unset)"}

    # -- the platform process -------------------------------------------------------------------

    async def start_opaska(self) -> None:
        self.console_port = free_port()
        env = opaska_env(
            OPASKA_DATABASE_URL=self.database.url,
            OPASKA_CONSOLE_PORT=str(self.console_port),
            OPASKA_MQTT_TOPIC_ROOT=ROOT,
            OPASKA_MQTT_CLIENT_ID_PREFIX="bench",
            OPASKA_LOG_LEVEL="WARNING",
        )
        if self.mosquitto is not None:
            env["OPASKA_MQTT_URL"] = self.mosquitto.service_url
        else:
            env["OPASKA_MQTT_EMBEDDED_PORT"] = str(self.band_port)
            # This tier measures amqtt: with Mosquitto installed `opaska run` would start that instead.
            env["OPASKA_MQTT_EMBEDDED_BROKER"] = "amqtt"
        self.env = env
        if self.topology != "compose":
            self.processes["opaska run"] = _spawn_opaska(env, self.log_path)
            await wait_healthy(self.base_url, self.processes["opaska run"], self.log_path, timeout=60)
            return
        if self.mosquitto is None:
            raise ValueError("the compose topology needs an external broker (Mosquitto)")
        self.gateway_metrics_port = free_port()
        engine_metrics_port = free_port()
        # Free ports, not 9101/9102: other benchmarks and tests may run on this machine too.
        env["OPASKA_METRICS_GATEWAY_PORT"] = str(self.gateway_metrics_port)
        env["OPASKA_METRICS_ENGINE_PORT"] = str(engine_metrics_port)
        ready_urls = {
            "gateway": f"http://127.0.0.1:{self.gateway_metrics_port}",
            "engine": f"http://127.0.0.1:{engine_metrics_port}",
            "console": self.base_url,
        }
        # Started together, waited for one by one: they meet only in the database and the broker.
        for name in ready_urls:
            self.processes[name] = _spawn_opaska(env, self.workdir / f"opaska-{name}.log", command=name)
        for name, url in ready_urls.items():
            await wait_healthy(url, self.processes[name], self.workdir / f"opaska-{name}.log", timeout=60)

    async def stop_opaska(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        self.processes = {}

    def process_rss_mib(self) -> dict[str, float]:
        """Resident memory of each of the platform's processes."""
        return {name: rss_mib(process.pid) for name, process in self.processes.items()}

    def opaska_rss_mib(self) -> float:
        """The platform's resident memory: its processes' together."""
        return sum(self.process_rss_mib().values())

    def broker_rss_mib(self) -> float:
        if self.mosquitto is not None and self.mosquitto.process is not None:
            return rss_mib(self.mosquitto.process.pid)
        return 0.0

    async def metrics(self) -> dict[str, float]:
        """The platform's Prometheus metrics we read: band messages counted, queue depths."""
        async with httpx.AsyncClient(timeout=10) as client:
            text = (await client.get(self.metrics_url)).text
        out: dict[str, float] = {"band_messages": 0.0}
        for line in text.splitlines():
            if line.startswith("opaska_band_messages_total{"):
                value = float(line.rsplit(" ", 1)[1])
                out["band_messages"] += value
                kind = re.search(r'kind="(\w+)"', line)
                if kind:
                    out[kind.group(1)] = out.get(kind.group(1), 0.0) + value
            elif line.startswith("opaska_gateway_queue_messages{"):
                queue = re.search(r'queue="(\w+)"', line)
                out[f"queue_{queue.group(1) if queue else '?'}"] = float(line.rsplit(" ", 1)[1])
        return out

    async def band_messages(self) -> float:
        return (await self.metrics())["band_messages"]

    # -- the broker's own view -------------------------------------------------------------------

    async def sys_connected(self, timeout: float = 15.0) -> int | None:
        """Clients connected, as the broker says on `$SYS/broker/clients/connected` (None if it says nothing)."""
        if self.mosquitto is None:
            return None
        values: list[int] = []
        second = asyncio.Event()

        def on_message(_topic: str, payload: bytes) -> None:
            # The first is the retained value, maybe from before the bands came: wait for a fresh one.
            with contextlib.suppress(ValueError):
                values.append(int(payload))
            if len(values) >= 2:
                second.set()

        try:
            link = await open_link(
                "127.0.0.1",
                self.mosquitto.service_port,
                client_id=f"bench-sys-{free_port()}",
                username=self.mosquitto.service_username,
                password=self.mosquitto.service_password,
                on_message=on_message,
            )
        except (OSError, LinkError, TimeoutError):
            return None
        try:
            await link.subscribe("$SYS/broker/clients/connected")
            await asyncio.wait_for(second.wait(), timeout)
            return values[-1]
        except (LinkError, TimeoutError):
            return values[-1] if values else None
        finally:
            link.disconnect()

    def restart_broker(self) -> None:
        """Kill the broker and start it again on the same ports (a reconnect storm follows)."""
        assert self.mosquitto is not None
        self.mosquitto.kill()
        self.mosquitto.start()

    async def close(self) -> None:
        await self.stop_opaska()
        if self.mosquitto is not None:
            self.mosquitto.stop()
        await self.database.drop()


def _spawn_opaska(env: dict[str, str], log_path: Path, command: str = "run") -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "opaska.cli", command], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )


async def start_platform(
    *,
    broker: str,
    database: str,
    bands: int,
    workdir: Path,
    prefix: str = "BENCH",
    opaska: bool = True,
    topology: str = "one",
) -> BenchPlatform:
    """Database, N bands, broker (and the platform's processes in `topology` unless opaska=False)."""
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before the run
    db = await create_database(database, workdir)
    engine = make_engine(db.url)
    try:
        provisioned = await provision_fleet(make_session_factory(engine), SystemClock(), count=bands, prefix=prefix)
    finally:
        await engine.dispose()
    secrets_path = workdir / "bands.tsv"
    write_secrets(secrets_path, provisioned.credentials)
    mosquitto = None
    if broker == "mosquitto":
        # $SYS every second (default 10 s), so the count read is fresh; nothing else is changed.
        mosquitto = MosquittoProcess(workdir / "mosquitto", extra_config="sys_interval 1")
        mosquitto.set_bands(provisioned.hashes)
        with mosquitto.auth.acl_path.open("a") as acl:
            acl.write("# bench only: the service account may read the broker's $SYS counters\ntopic read $SYS/#\n")
        mosquitto.start()
        band_port = mosquitto.port
    else:
        band_port = free_port_pair()
    platform = BenchPlatform(
        broker,
        db,
        workdir,
        provisioned.credentials,
        provisioned.municipality_id,
        band_port,
        secrets_path,
        mosquitto,
        topology=topology,
    )
    if opaska:
        try:
            await platform.start_opaska()
        except BaseException:
            await platform.close()
            raise
    return platform
