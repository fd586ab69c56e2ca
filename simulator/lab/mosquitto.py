"""A Mosquitto of our own, on free ports, started from config/mosquitto.conf with opaska's auth files.

The config is built as `opaska run` builds its own Mosquitto's (`gateway.broker.mosquitto_config`):
the project config as shipped except for the listeners, the storage and log paths and the two auth
files, which point into the process's work directory and are written by the platform's own renderer
(`gateway.broker.mosquitto_auth`): so a test gets the production config AND the production ACL.
`set_bands()` / `sync_from()` rewrite the files and SIGHUP the broker, as the gateway's sync loop
does.

As in production it listens twice: `port` / `url` is the band listener (client id replaced by the
username), `service_port` / `service_url` / `service_endpoint` the platform's (client ids kept).
Bands connect to the first, the gateway and other service-account clients to the second.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from gateway.broker.credential_store import band_secret_hashes
from gateway.broker.mosquitto_auth import MosquittoAuthFiles
from gateway.broker.mosquitto_config import find_mosquitto, reload_and_wait, render_config, wait_listening
from gateway.topics import TopicScheme
from registry.credentials import hash_band_secret
from simulator.lab.ports import free_port

SERVICE_USERNAME = "opaska-service"


class MosquittoProcess:
    """Mosquitto with the project config. `acl=False` leaves out `acl_file` (to prove a test can fail)."""

    def __init__(
        self, workdir: Path, extra_config: str = "", *, topics: TopicScheme | None = None, acl: bool = True
    ) -> None:
        binary = find_mosquitto()
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
            render_config(
                port=self.port,
                service_port=self.service_port,
                data_dir=workdir,
                auth_dir=self.auth.directory,
                acl=acl,
                extra=extra_config,
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

    def reload(self, timeout: float = 10.0) -> float:
        """SIGHUP the broker and wait until it has reloaded; the seconds that took."""
        assert self.process is not None
        return reload_and_wait(self.process.pid, self.log_path, host="127.0.0.1", port=self.port, timeout=timeout)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.wait_listening(self.process, [self.port, self.service_port])

    @staticmethod
    def wait_listening(process: subprocess.Popen[bytes], ports: list[int]) -> None:
        wait_listening(process, ports)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
