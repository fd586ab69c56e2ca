"""Mosquitto built from the shipped config/mosquitto.conf: the config, the program, and the waits.

The shipped config is used as it is except for the listeners (our ports), the storage, log and pid
paths (a work directory) and the two auth files, which opaska writes from the registry
(`gateway.broker.mosquitto_auth`). `opaska run` builds its own Mosquitto with these
(`gateway.broker.mosquitto_child`), and so does the lab (`simulator.lab.mosquitto`): the tests run
the config production runs.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from core.settings import PROJECT_ROOT

PROJECT_CONFIG = PROJECT_ROOT / "config" / "mosquitto.conf"
# Where the shipped config expects the generated auth files (docker-compose's volume).
SHIPPED_AUTH_DIR = "/mosquitto/auth/"
BAND_LISTENER, SERVICE_LISTENER = "1883", "1884"  # the shipped config's
_REPLACED = ("persistence_location ", "log_dest ", "pid_file ", "user ")
# The platform listens on the loopback only: in `opaska run` every service-account client is in
# this very process, so nothing outside the machine needs the platform listener.
SERVICE_HOST = "127.0.0.1"
INSTALL_HINT = "apt install mosquitto, or make system-deps"


class MosquittoStartError(RuntimeError):
    """Mosquitto exited or never listened; the message carries what it said on stderr."""


def find_mosquitto() -> str | None:
    """The mosquitto program: on PATH, or in /usr/sbin, where Debian puts it (often not on PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


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


def render_config(
    *,
    port: int,
    service_port: int,
    data_dir: Path,
    auth_dir: Path,
    host: str = "127.0.0.1",
    service_host: str = SERVICE_HOST,
    acl: bool = True,
    extra: str = "",
) -> str:
    """The shipped config with our listeners and paths; with acl=False, without any `acl_file`.

    `port` takes the place of the shipped band listener (1883) and `service_port` of the platform's
    (1884), each with the options the shipped config gives it (for 1883: `use_username_as_clientid
    true` and the password file of every band; for 1884: the service account's alone), the auth
    files read from `auth_dir` instead of the shipped /mosquitto/auth/.
    """
    kept, listeners = _split_listeners(
        [line for line in PROJECT_CONFIG.read_text().splitlines() if not line.startswith(_REPLACED)]
    )
    if set(listeners) != {BAND_LISTENER, SERVICE_LISTENER}:
        raise ValueError(f"{PROJECT_CONFIG}: expected listeners 1883 and 1884, found {sorted(listeners)}")

    def options(port: str) -> list[str]:
        lines = [line.replace(SHIPPED_AUTH_DIR, f"{auth_dir}/") for line in listeners[port]]
        return [line for line in lines if acl or not line.startswith("acl_file ")]

    return "\n".join(
        [
            *kept,
            f"listener {port} {host}",
            *options(BAND_LISTENER),
            f"listener {service_port} {service_host}",
            *options(SERVICE_LISTENER),
            f"persistence_location {data_dir}/",
            # Started as root, Mosquitto would switch to user `mosquitto`, who cannot read the
            # files opaska wrote (mode 0600): it stays whoever runs opaska (ignored when not root).
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"log_dest file {data_dir}/mosquitto.log",
            # "Reloading config." (information) is how `reload_and_wait` knows a SIGHUP was handled.
            "log_type information",
            f"pid_file {data_dir}/mosquitto.pid",
            extra,
            "",
        ]
    )


def stderr_tail(process: subprocess.Popen[bytes], stderr_path: Path | None) -> str:
    if process.stderr is not None:
        return process.stderr.read().decode(errors="replace").strip()
    if stderr_path is not None:
        with contextlib.suppress(OSError):
            return stderr_path.read_text(errors="replace").strip()[-2000:]
    return ""


def wait_listening(
    process: subprocess.Popen[bytes],
    ports: list[int],
    *,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
    stderr_path: Path | None = None,
) -> None:
    """Block until Mosquitto accepts connections on every port; MosquittoStartError if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = stderr_tail(process, stderr_path)
            raise MosquittoStartError(f"mosquitto exited with code {process.returncode}: {said or '(nothing said)'}")
        try:
            for port in ports:
                with socket.create_connection((host, port), timeout=0.2):
                    pass
            return
        except OSError:
            time.sleep(0.05)
    raise MosquittoStartError(f"mosquitto did not listen on {host} {ports} within {timeout:.0f} s")


def _reloads_logged(log_path: Path) -> int:
    try:
        return log_path.read_text(errors="replace").count("Reloading config.")
    except FileNotFoundError:
        return 0


def ping(host: str, port: int) -> None:
    """One CONNECT and its answer: Mosquitto handles a CONNECT only after the signals it had."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x05\x00\x00")  # CONNECT, 3.1.1, anonymous
        sock.recv(4)


def reload_and_wait(pid: int, log_path: Path, *, host: str, port: int, timeout: float = 10.0) -> float:
    """SIGHUP Mosquitto and wait until it has re-read its files; the seconds that took."""
    before = _reloads_logged(log_path)
    started = time.monotonic()
    os.kill(pid, signal.SIGHUP)
    while _reloads_logged(log_path) <= before:
        if time.monotonic() - started > timeout:
            raise MosquittoStartError("mosquitto did not log a reload")
        time.sleep(0.01)
    # The reload line is written before the files are re-read: a round trip proves it is done.
    ping(host, port)
    return time.monotonic() - started
