"""A Mosquitto of our own, on free ports, started from config/mosquitto.conf with opaska's auth files.

The project config is used as shipped except for the listeners, the storage and log paths and the
two auth files, which point into the process's work directory and are written by the platform's
own renderer (`gateway.broker.mosquitto_auth`): so a test gets the production config AND the
production ACL. `set_bands()` / `sync_from()` rewrite the files and SIGHUP the broker, as the
gateway's sync loop does.

As in production it listens twice: `port` / `url` is the band listener (client id replaced by the
username), `service_port` / `service_url` / `service_endpoint` the platform's (client ids kept).
Bands connect to the first, the gateway and other service-account clients to the second.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from gateway.broker.credential_store import band_secret_hashes
from gateway.broker.mosquitto_auth import MosquittoAuthFiles
from gateway.topics import TopicScheme
from registry.credentials import hash_band_secret
from simulator.lab.ports import find_program, free_port
from simulator.lab.processes import REPO

PROJECT_CONFIG = REPO / "config" / "mosquitto.conf"
SERVICE_USERNAME = "opaska-service"
_REPLACED = ("persistence_location ", "log_dest ", "pid_file ")
# Where the shipped config expects the generated auth files (docker-compose's volume).
SHIPPED_AUTH_DIR = "/mosquitto/auth/"
BAND_LISTENER, SERVICE_LISTENER = "1883", "1884"  # the shipped config's


def _split_listeners(lines: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The shipped config's global lines, and each listener's own options by its port.

    A listener's options are the lines right after its `listener` line, up to the first blank
    line: that is how config/mosquitto.conf is laid out (`use_username_as_clientid` applies to the
    listener it follows).
    """
    kept: list[str] = []
    options: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line.startswith("listener "):
            current = options.setdefault(line.split()[1], [])
        elif current is not None and line.strip():
            current.append(line)
        else:
            current = None
            kept.append(line)
    return kept, options


def project_config_for(
    port: int,
    service_port: int,
    data_dir: Path,
    extra: str = "",
    *,
    auth_dir: Path,
    acl: bool = True,
) -> str:
    """The shipped config with our own listeners and paths; with acl=False, without any `acl_file`.

    `port` takes the place of the shipped band listener (1883) and `service_port` of the platform's
    (1884), each with the options the shipped config gives it (for 1883: `use_username_as_clientid
    true` and the password file of every band; for 1884: the service account's alone), the auth
    files read from `auth_dir` instead of the shipped /mosquitto/auth/, so the tests check the
    shipped listeners and their authentication.
    """
    kept, listeners = _split_listeners(
        [line for line in PROJECT_CONFIG.read_text().splitlines() if not line.startswith(_REPLACED)]
    )
    if set(listeners) != {BAND_LISTENER, SERVICE_LISTENER}:
        raise ValueError(f"{PROJECT_CONFIG}: expected listeners 1883 and 1884, found {sorted(listeners)}")

    def options(port: str) -> list[str]:
        lines = [line.replace(SHIPPED_AUTH_DIR, f"{auth_dir}/") for line in listeners[port]]
        return [line for line in lines if acl or not line.startswith("acl_file ")]

    # `user root`: Mosquitto started as root drops privileges and could not read files in our temp dir.
    return "\n".join(
        [
            *kept,
            f"listener {port} 127.0.0.1",
            *options(BAND_LISTENER),
            f"listener {service_port} 127.0.0.1",
            *options(SERVICE_LISTENER),
            f"persistence_location {data_dir}/",
            "user root",
            f"log_dest file {data_dir}/mosquitto.log",
            # Logging only: "Reloading config." (information) is how reload() knows a SIGHUP was handled.
            "log_type information",
            f"pid_file {data_dir}/mosquitto.pid",
            extra,
            "",
        ]
    )


class MosquittoProcess:
    """Mosquitto with the project config. `acl=False` leaves out `acl_file` (to prove a test can fail)."""

    def __init__(
        self, workdir: Path, extra_config: str = "", *, topics: TopicScheme | None = None, acl: bool = True
    ) -> None:
        binary = find_program("mosquitto")
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (make system-deps installs it)")
        self.binary = binary
        self.port = free_port()  # bands
        self.service_port = free_port()  # the platform
        while self.service_port == self.port:
            self.service_port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.service_username = SERVICE_USERNAME
        self.service_password = secrets.token_urlsafe(16)
        # Signalled by reload() below, which also waits for the broker to have reloaded.
        self.auth = MosquittoAuthFiles(
            workdir / "auth",
            topics=topics or TopicScheme("opaska/v1"),
            service_username=self.service_username,
            service_password=self.service_password,
        )
        self.band_hashes: dict[str, str] = {}
        self.auth.write(self.band_hashes)
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.pid_path = workdir / "mosquitto.pid"
        self.config_path.write_text(
            project_config_for(
                self.port,
                self.service_port,
                workdir,
                extra_config,
                auth_dir=self.auth.directory,
                acl=acl,
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The band listener, without credentials: bands pass their serial and secret themselves."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def service_url(self) -> str:
        """The platform's listener, with the service account."""
        user, password = quote(self.service_username), quote(self.service_password)
        return f"mqtt://{user}:{password}@127.0.0.1:{self.service_port}"

    @property
    def service_endpoint(self) -> MqttEndpoint:
        return parse_mqtt_url(self.service_url)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def add_band(self, serial: str, secret: str) -> None:
        """Let this band connect (rewrites the files; reloads a running broker)."""
        self.set_bands({**self.band_hashes, serial: hash_band_secret(secret)})

    def set_bands(self, hashes: Mapping[str, str]) -> bool:
        """Exactly these bands may connect. True if the files changed (and a running broker reloaded)."""
        self.band_hashes = dict(hashes)
        changed = self.auth.write(self.band_hashes).changed
        if changed and self.running:
            self.reload()
        return changed

    async def sync_from(self, sessions: async_sessionmaker[AsyncSession]) -> bool:
        """The bands the registry lets connect, as the gateway's sync loop renders them."""
        async with sessions() as session:
            hashes = await band_secret_hashes(session)
        return self.set_bands(hashes)

    def _reloads_logged(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count("Reloading config.")
        except FileNotFoundError:
            return 0

    def reload(self, timeout: float = 10.0) -> float:
        """SIGHUP the broker and wait until it has reloaded; the seconds that took."""
        assert self.process is not None
        before = self._reloads_logged()
        started = time.monotonic()
        os.kill(self.process.pid, signal.SIGHUP)
        while self._reloads_logged() <= before:
            if time.monotonic() - started > timeout:
                raise RuntimeError("mosquitto did not log a reload")
            time.sleep(0.01)
        # The reload line is written before the files are re-read: a round trip proves it is done.
        self._ping()
        return time.monotonic() - started

    def _ping(self) -> None:
        # A CONNECT is handled only after the signal handling in Mosquitto's main loop.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x05\x00\x00")  # CONNECT, 3.1.1, anonymous
            sock.recv(4)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.wait_listening(self.process, [self.port, self.service_port])

    @staticmethod
    def wait_listening(process: subprocess.Popen[bytes], ports: list[int]) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}")
            try:
                for port in ports:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        pass
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
