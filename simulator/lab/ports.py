"""Free ports on the loopback, and programs the machine may have."""

from __future__ import annotations

import os
import shutil
import socket

# Ports handed out by this process: an embedded broker also takes the port after its own, which
# the kernel does not know about until the broker binds it.
_handed_out: set[int] = set()


def free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def free_port_pair() -> int:
    """A free port whose successor is free too: `opaska run`'s broker takes both (bands, platform)."""
    while True:
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port in _handed_out or port + 1 in _handed_out or port >= 65535:
                continue
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        _handed_out.update((port, port + 1))
        return port


def find_program(name: str) -> str | None:
    """The program's path; Debian puts daemons such as mosquitto in /usr/sbin, often not on PATH."""
    return shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
