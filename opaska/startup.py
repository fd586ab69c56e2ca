"""Start-up checks shared by every process: each failure is one clear line, then exit non-zero."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from opaska.db.engine import make_engine
from opaska.db.migrate import pending_revisions, upgrade_to_head
from opaska.settings import Settings


class StartupError(Exception):
    """Something the platform needs is missing; the message says what, where and what to do."""


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def open_database(settings: Settings, *, migrate: bool) -> AsyncEngine:
    """Connect and check the schema; with migrate, bring it to the newest revision first."""
    url = settings.database.url
    if settings.database.is_sqlite:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        await engine.dispose()
        reason = str(getattr(exc, "orig", exc) or type(exc).__name__).splitlines()[0]
        raise StartupError(f"cannot reach the database {redacted(url)} (OPASKA_DATABASE_URL): {reason}") from None
    if migrate:
        await upgrade_to_head(engine)
    elif pending := await pending_revisions(engine):
        await engine.dispose()
        raise StartupError(
            f"the database {redacted(url)} is not migrated ({len(pending)} revision(s) pending): run `opaska migrate`"
        )
    return engine


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
