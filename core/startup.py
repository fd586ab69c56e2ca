"""Start-up checks shared by every process: each failure is one clear line, then exit non-zero."""

from __future__ import annotations

import errno
import socket

from sqlalchemy.engine import make_url


class StartupError(Exception):
    """Something the platform needs is missing; the message says what, where and what to do."""


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def check_listen_port(host: str, port: int, setting: str, *, what: str = "", hint: str = "") -> None:
    """Fail early, with the setting to change, if we could not listen on host:port."""
    prefix = f"cannot start {what}: " if what else ""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"{prefix}{host}:{port} is already taken{hint}; pick another port with {setting}"
                ) from None
            raise StartupError(f"{prefix}cannot listen on {host}:{port} ({setting}): {exc.strerror}") from None
