"""Is an operator console connected? Each console process keeps a `service_state` row ("console/…")
fresh while it runs; escalation reads them to skip waits that only give operators time to claim.

The row's `connected_since` is when its first live client (a browser on /ws/live) connected, and NULL
while it has none: "alive, with at least one client" without a column of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.dialect import insert_for
from core.db.service_state import ServiceState

CONSOLE_PREFIX = "console/"
# A console writes every EVERY_S; one missed write (a busy loop, a slow database) is not absence.
EVERY_S = 5.0
PRESENT_WITHIN = timedelta(seconds=15)


async def record_console(session: AsyncSession, *, name: str, clients_since: datetime | None, now: datetime) -> None:
    """This console is alive now; `clients_since` None when no client is connected to it."""
    statement = insert_for(session, ServiceState).values(
        name=CONSOLE_PREFIX + name, connected_since=clients_since, alive_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"connected_since": clients_since, "alive_at": now}
        )
    )


async def console_present(session: AsyncSession, *, now: datetime) -> bool:
    """A console alive within PRESENT_WITHIN with at least one client connected."""
    found = await session.execute(
        select(ServiceState.name)
        .where(
            ServiceState.name.startswith(CONSOLE_PREFIX, autoescape=True),
            ServiceState.connected_since.is_not(None),
            ServiceState.alive_at >= now - PRESENT_WITHIN,
        )
        .limit(1)
    )
    return found.first() is not None
