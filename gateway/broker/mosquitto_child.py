"""Mosquitto as a child of `opaska run`: started, watched, restarted, stopped.

`opaska run` with no broker configured runs Mosquitto itself when the machine has it: amqtt matches
every message against every subscription and does not resend in-flight messages, so it is for demos
and small trials. The config is the shipped one with our ports and paths
(`gateway.broker.mosquitto_config`); the password and ACL files are written from the registry
(`gateway.broker.mosquitto_auth`) and kept in step, reloading the broker with SIGHUP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.mqtt.endpoint import MqttEndpoint
from core.mqtt.reconnect import Backoff
from core.startup import StartupError, check_listen_port
from gateway.broker.mosquitto_auth import MosquittoAuthFiles
from gateway.broker.mosquitto_config import (
    SERVICE_HOST,
    MosquittoStartError,
    reload_and_wait,
    render_config,
    stderr_tail,
    wait_listening,
)
from gateway.topics import TopicScheme
from registry.model import BandEvent

log = logging.getLogger(__name__)

# A child that ran this long had started fine: its next crash restarts it after the shortest wait.
_STABLE_AFTER_S = 60.0
# How often the registry is asked whether any band changed (one indexed max() query).
_EVENT_CHECK_S = 0.5
_PR_SET_PDEATHSIG = 1
# Looked up here, in the parent: between fork and exec the child may only make the call itself
# (the dynamic loader's lock may be held by another thread at the fork).
_PRCTL = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None) if os.name == "posix" else None


def _end_with_parent() -> None:
    """In the child before exec: SIGTERM when opaska dies, even by SIGKILL, so that no orphaned
    Mosquitto keeps the port and refuses the next `opaska run`."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _connect_host(host: str) -> str:
    # A listener on every address is reached on the loopback.
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - compared, not bound


def _say_if_failed(task: asyncio.Task[None]) -> None:
    # These tasks run beside the platform's parts, not as one: an error would otherwise go unheard.
    if not task.cancelled() and task.exception() is not None:
        log.error("the embedded Mosquitto's %s stopped", task.get_name(), exc_info=task.exception())


class MosquittoChild:
    """Mosquitto started, watched and restarted by this process, its files in `workdir`.

    Bands use `port` on `host`; the platform uses `port + 1` on the loopback with the service
    account, whose password is made afresh at each start (only this process ever knows it).
    """

    def __init__(
        self,
        binary: str,
        *,
        host: str,
        port: int,
        workdir: Path,
        topics: TopicScheme,
        sessions: async_sessionmaker[AsyncSession],
        service_username: str,
        service_password: str,
        restart_backoff: Backoff | None = None,
        auth_every_s: float = 5.0,
    ) -> None:
        self.binary = binary
        self.host = host
        self.port = port
        self.service_port = port + 1
        # Absolute: the config names its own files, and a log line names where they are.
        self.workdir = workdir.resolve()
        self._sessions = sessions
        self._service = (service_username, service_password)
        self._auth = MosquittoAuthFiles(
            self.workdir / "auth", topics=topics, service_username=service_username, service_password=service_password
        )
        self._backoff = restart_backoff or Backoff(first_s=1.0, max_s=30.0)
        self._auth_every_s = auth_every_s
        self.config_path = self.workdir / "mosquitto.conf"
        self.stderr_path = self.workdir / "mosquitto.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._auth_lock = asyncio.Lock()
        self._seen_event: int | None = None

    @property
    def url(self) -> str:
        """The band listener, without credentials."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def service_endpoint(self) -> MqttEndpoint:
        username, password = self._service
        return MqttEndpoint(SERVICE_HOST, self.service_port, username=username, password=password)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def check_ports(self) -> None:
        """StartupError naming the port and the setting, if either listener's port is taken."""
        where = f"{self.host}:{self.port}"
        check_listen_port(
            self.host,
            self.port,
            f"OPASKA_MQTT_EMBEDDED_PORT (e.g. {self.port + 2}; Mosquitto also takes the port after it)",
            what="the embedded MQTT broker (Mosquitto)",
            hint=(
                " (another MQTT broker, e.g. the system's Mosquitto, may run there; to use it instead, it must "
                f"require passwords: OPASKA_MQTT_URL=mqtt://opaska-service:PASSWORD@{where}, docs/brokers.md)"
            ),
        )
        check_listen_port(
            SERVICE_HOST,
            self.service_port,
            f"OPASKA_MQTT_EMBEDDED_PORT (now {self.port})",
            what="the embedded MQTT broker (Mosquitto)",
            hint=f" (the platform's own listener, always the bands' port + 1: {self.port} + 1)",
        )

    async def start(self) -> None:
        """Write the config and the auth files, start Mosquitto, and watch it until `stop()`."""
        self.check_ports()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        self.config_path.write_text(
            render_config(
                port=self.port,
                service_port=self.service_port,
                data_dir=self.workdir,
                auth_dir=self._auth.directory,
                host=self.host,
            )
        )
        # Before the first start: every band already registered can log in at once.
        self._seen_event = await self._last_band_event()
        await self._auth.sync(self._sessions)
        try:
            await self._spawn()
        except MosquittoStartError as exc:
            raise StartupError(f"cannot start the embedded MQTT broker (Mosquitto {self.binary}): {exc}") from None
        self._tasks = [
            asyncio.create_task(self._supervise(), name="mosquitto-supervisor"),
            asyncio.create_task(self._keep_auth_in_step(), name="mosquitto-auth"),
        ]
        for task in self._tasks:
            task.add_done_callback(_say_if_failed)

    async def _spawn(self) -> None:
        # Forked on the loop's own thread: the parent-death signal is tied to the forking thread.
        self.process = self._popen()
        try:
            await asyncio.to_thread(
                wait_listening,
                self.process,
                [self.port, self.service_port],
                host=_connect_host(self.host),
                stderr_path=self.stderr_path,
            )
        except BaseException:
            self._end(self.process)
            raise

    def _popen(self) -> subprocess.Popen[bytes]:
        with self.stderr_path.open("wb") as stderr:
            return subprocess.Popen(  # noqa: S603 - our own binary and config path, no shell
                [self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                # Its own process group: a Ctrl-C in the terminal reaches opaska, which then stops
                # Mosquitto last, after the gateway has let go of it.
                start_new_session=True,
                preexec_fn=_end_with_parent,
            )

    async def _supervise(self) -> None:
        """Restart Mosquitto whenever it dies; the gateway and the bands reconnect by themselves."""
        while True:
            process = self.process
            assert process is not None
            started = time.monotonic()
            # A child's exit is no event the loop can await without a thread held per child;
            # five looks a second cost nothing.
            while process.poll() is None:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            if time.monotonic() - started > _STABLE_AFTER_S:
                self._backoff.reset()
            log.error(
                "the embedded Mosquitto (pid %d) %s; restarting it (its log: %s/mosquitto.log)",
                process.pid,
                self._how_it_ended(process),
                self.workdir,
            )
            await self._restart()

    async def _restart(self) -> None:
        while True:
            await asyncio.sleep(self._backoff.next_delay())
            try:
                await self._spawn()
            except (OSError, MosquittoStartError) as exc:
                log.error("cannot restart the embedded Mosquitto, trying again: %s", exc)
                continue
            assert self.process is not None
            log.info("the embedded Mosquitto is running again (pid %d)", self.process.pid)
            return

    def _how_it_ended(self, process: subprocess.Popen[bytes]) -> str:
        code = process.returncode
        if code < 0:
            # Killed: whatever it said on stderr before (a warning at start, say) is not why.
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(-code).name}"
            return f"was killed by signal {-code}"
        said = stderr_tail(process, self.stderr_path)
        return f"exited with code {code}" + (f": {said}" if said else "")

    async def bands_changed(self) -> None:
        """The registry's bands changed (the demo's, just seeded): Mosquitto knows them when this returns."""
        async with self._auth_lock:
            await self._auth.sync(self._sessions)
            pid = self.pid
            if pid is None:
                return  # being restarted: it reads the files as they are now
            try:
                await asyncio.to_thread(
                    reload_and_wait,
                    pid,
                    self.workdir / "mosquitto.log",
                    host=_connect_host(self.host),
                    port=self.port,
                )
            except (OSError, MosquittoStartError) as exc:
                log.warning("the embedded Mosquitto may not know the new bands yet: %s", exc)

    async def _last_band_event(self) -> int | None:
        async with self._sessions() as session:
            return (await session.execute(select(func.max(BandEvent.id)))).scalar_one_or_none()

    async def _keep_auth_in_step(self) -> None:
        """Re-render the auth files from the registry; on a change, SIGHUP: Mosquitto re-reads them
        and drops the connections whose credentials are gone.

        In full every `auth_every_s`, and at once when the registry has a new band event (every
        registration, credentials issued or revoked, retirement writes one): a band a technician
        has just registered gets in within a second, as it does on amqtt, which asks the registry.
        """
        seen, synced_at = self._seen_event, time.monotonic()
        while True:
            await asyncio.sleep(_EVENT_CHECK_S)
            try:
                latest = await self._last_band_event()
                if latest == seen and time.monotonic() - synced_at < self._auth_every_s:
                    continue
                async with self._auth_lock:
                    result = await self._auth.sync(self._sessions)
            except (OSError, SQLAlchemyError) as exc:
                log.warning("cannot update the embedded Mosquitto's auth files in %s: %s", self._auth.directory, exc)
                await asyncio.sleep(self._auth_every_s)
                continue
            seen, synced_at = latest, time.monotonic()
            pid = self.pid
            if result.changed and pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Mosquitto saves its persistence file), wait, then SIGKILL."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.process is not None:
            await asyncio.to_thread(self._end, self.process, timeout)

    @staticmethod
    def _end(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the embedded Mosquitto (pid %d) did not stop within %.0f s: killed", process.pid, timeout)
                process.kill()
        process.wait()
