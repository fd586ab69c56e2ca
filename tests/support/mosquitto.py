"""A Mosquitto of our own, on a free port, started from config/mosquitto.conf."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.support.processes import REPO
from tests.support.require import free_port, need_program

PROJECT_CONFIG = REPO / "config" / "mosquitto.conf"
_REPLACED = ("listener ", "persistence_location ", "log_dest ")


def project_config_for(port: int, data_dir: Path, extra: str = "") -> str:
    kept = [line for line in PROJECT_CONFIG.read_text().splitlines() if not line.startswith(_REPLACED)]
    # `user root`: Mosquitto started as root drops privileges and could not read files in our temp dir.
    return "\n".join(
        [
            *kept,
            f"listener {port} 127.0.0.1",
            f"persistence_location {data_dir}/",
            "user root",
            f"log_dest file {data_dir}/mosquitto.log",
            extra,
            "",
        ]
    )


class MosquittoProcess:
    def __init__(self, workdir: Path, extra_config: str = "") -> None:
        self.binary = need_program("mosquitto")
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text(project_config_for(self.port, workdir, extra_config))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
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
