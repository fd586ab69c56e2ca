"""Free ports on the loopback, and programs the machine may have."""

from __future__ import annotations

import os
import shutil
import socket


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_program(name: str) -> str | None:
    """The program's path; Debian puts daemons such as mosquitto in /usr/sbin, often not on PATH."""
    return shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
