"""A burst of SOS from a fleet of bands through real opaska processes, and the exactly-once count.

The platform runs as it does in production on one machine: our own Mosquitto with the project's
config and ACL, `opaska gateway` (and for some faults `opaska console`) as subprocesses on the
test's database. The fleet (simulator/fleet.py, one asyncio loop) presses SOS on every band,
spread over a few seconds so that a fault lands mid-burst, and each band repeats its SOS (same
message id, backoff) until its `alarm_received` arrives. The verdict counts the database by band:
every band exactly one alarm and exactly one stored SOS message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from core.clock import Clock
from gateway.topics import TopicScheme
from registry.model import Band
from registry.traffic.messages import BandMessage
from simulator.band import RepeatPolicy
from simulator.fleet import AlarmOutcome, Fleet, FleetBand
from simulator.lab.processes import REPO, opaska_env, wait_healthy
from simulator.provision import provision_fleet
from tests.support.mosquitto import MosquittoProcess
from tests.support.processes import opaska_process
from tests.support.require import free_port

# OPASKA_FAULT_BANDS: the burst's size (1,000 in CI; fewer while developing on a busy machine).
BANDS = int(os.environ.get("OPASKA_FAULT_BANDS", "1000"))
# How long the presses are spread over, so that a fault lands in the middle of them.
SPREAD_S = 4.0
PRESS_TIMEOUT_S = 150.0
RESULTS = REPO / "test-artifacts" / "faults"


@dataclass
class Verdict:
    sent: int
    acknowledged: int
    alarms_found: int
    bands_with_one_alarm: int
    missing: list[str]
    doubled: list[str]
    messages_doubled: list[str]
    repeats: int
    seconds: float
    database: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, name: str) -> None:
        """Written to test-artifacts/faults/ for docs/reliability.md."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        row = {"fault": name, "bands": self.sent, **self.__dict__}
        row["missing"], row["doubled"] = len(self.missing), len(self.doubled)
        row["messages_doubled"] = len(self.messages_doubled)
        (RESULTS / f"{name}-{self.database}.json").write_text(json.dumps(row, indent=1, default=str) + "\n")

    def assert_exactly_once(self) -> None:
        assert self.acknowledged == self.sent, f"{self.sent - self.acknowledged} SOS never acknowledged"
        assert self.missing == [], f"{len(self.missing)} bands without an alarm, e.g. {self.missing[:5]}"
        assert self.doubled == [], f"{len(self.doubled)} bands with more than one alarm, e.g. {self.doubled[:5]}"
        assert self.messages_doubled == [], f"SOS stored twice for {self.messages_doubled[:5]}"
        assert self.alarms_found == self.sent


class Platform:
    """Mosquitto + a fleet + opaska processes started and killed on the test's word."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        database_url: str,
        topics: TopicScheme,
        client_prefix: str,
        workdir: Path,
        *,
        bands: int = BANDS,
    ) -> None:
        self.sessions, self.clock, self.topics = sessions, clock, topics
        self.workdir = workdir
        self.count = bands
        self.database = make_url(database_url).get_backend_name()
        self.broker = MosquittoProcess(workdir / "mosquitto", topics=topics)
        self.gateway_port = free_port()
        self.console_port = free_port()
        self.env = opaska_env(
            OPASKA_DATABASE_URL=database_url,
            OPASKA_MQTT_URL=self.broker.service_url,
            OPASKA_MQTT_SERVICE_USERNAME=self.broker.service_username,
            OPASKA_MQTT_TOPIC_ROOT=topics.root,
            OPASKA_MQTT_CLIENT_ID_PREFIX=client_prefix,
            OPASKA_MQTT_SESSION_EXPIRY_S="300",
            OPASKA_METRICS_GATEWAY_PORT=str(self.gateway_port),
            OPASKA_CONSOLE_PORT=str(self.console_port),
        )
        self.fleet: Fleet | None = None
        self.presses: list[asyncio.Task[AlarmOutcome]] = []
        self._started = 0.0
        self._logs = 0

    def log_path(self, name: str) -> Path:
        self._logs += 1
        return self.workdir / f"{self._logs:02d}-{name}.log"

    async def start(self) -> None:
        provisioned = await provision_fleet(
            self.sessions, self.clock, count=self.count, prefix=f"F{uuid.uuid4().hex[:6]}"
        )
        self.broker.set_bands(provisioned.hashes)
        self.broker.start()
        self.fleet = Fleet(
            provisioned.credentials,
            host="127.0.0.1",
            port=self.broker.port,
            topics=self.topics,
            seed=3,
            heartbeats=False,
            repeat=RepeatPolicy(first_s=3.0, max_s=15.0),
            reconnect_first_s=0.5,
        )
        await self.fleet.start()

    @contextlib.contextmanager
    def process(self, part: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
        with opaska_process([part], {**self.env, **env}, self.log_path(part)) as process:
            yield process

    async def ready(
        self, part: str, process: subprocess.Popen[bytes], timeout: float = 60, *, port: int | None = None
    ) -> None:
        """Ready on its /readyz: the platform's own port for `part`, or `port` (one of several)."""
        port = port or (self.gateway_port if part == "gateway" else self.console_port)
        await wait_healthy(f"http://127.0.0.1:{port}", process, self._last_log(part), timeout=timeout)

    def _last_log(self, part: str) -> Path:
        return sorted(self.workdir.glob(f"*-{part}.log"))[-1]

    def press_all(self) -> None:
        """Every band presses SOS once, spread over SPREAD_S; each repeats until acknowledged."""
        assert self.fleet is not None
        self._started = time.monotonic()
        fleet = self.fleet

        async def press(band: FleetBand, delay: float) -> AlarmOutcome:
            await asyncio.sleep(delay)
            return await fleet.press(band, "sos", timeout=PRESS_TIMEOUT_S)

        step = SPREAD_S / max(len(fleet.bands), 1)
        self.presses = [asyncio.create_task(press(band, i * step)) for i, band in enumerate(fleet.bands)]

    async def alarms_stored(self) -> int:
        async with self.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(Alarm))).scalar_one())

    async def until_stored(self, at_least: int, timeout: float = 120) -> None:
        async with asyncio.timeout(timeout):
            while await self.alarms_stored() < at_least:
                await asyncio.sleep(0.1)

    async def verdict(self) -> Verdict:
        assert self.fleet is not None
        outcomes = await asyncio.wait_for(asyncio.gather(*self.presses), PRESS_TIMEOUT_S + 30)
        seconds = time.monotonic() - self._started
        await asyncio.sleep(1.0)  # room for a late second effect to show
        async with self.sessions() as session:
            serials = {band.serial for band in self.fleet.bands}
            rows = await session.execute(select(Band.id, Band.serial))
            by_band_id = {band_id: serial for band_id, serial in rows if serial in serials}
            alarm_rows = await session.execute(select(Alarm.band_id, func.count()).group_by(Alarm.band_id))
            alarms = {band_id: count for band_id, count in alarm_rows}
            message_rows = await session.execute(
                select(BandMessage.band_id, func.count()).where(BandMessage.kind == "sos").group_by(BandMessage.band_id)
            )
            messages = {band_id: count for band_id, count in message_rows}
        per_serial = {serial: int(alarms.get(band_id, 0)) for band_id, serial in by_band_id.items()}
        return Verdict(
            sent=len(outcomes),
            acknowledged=sum(1 for outcome in outcomes if outcome.answer is not None),
            alarms_found=sum(per_serial.values()),
            bands_with_one_alarm=sum(1 for count in per_serial.values() if count == 1),
            missing=sorted(serial for serial, count in per_serial.items() if count == 0),
            doubled=sorted(serial for serial, count in per_serial.items() if count > 1),
            messages_doubled=sorted(
                serial for band_id, serial in by_band_id.items() if int(messages.get(band_id, 0)) > 1
            ),
            repeats=self.fleet.stats.repeats,
            seconds=round(seconds, 1),
            database=self.database,
        )

    async def stop(self) -> None:
        for task in self.presses:
            task.cancel()
        if self.fleet is not None:
            await self.fleet.stop()
        self.broker.stop()


@contextlib.asynccontextmanager
async def platform(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    database_url: str,
    topics: TopicScheme,
    client_prefix: str,
    workdir: Path,
) -> AsyncIterator[Platform]:
    running = Platform(sessions, clock, database_url, topics, client_prefix, workdir)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
