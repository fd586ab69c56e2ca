"""The gateway's row in `service_state`: whether it is connected to the broker, and since when.

Supervision reads it: no band is judged offline while the gateway cannot hear them, and after a
reconnect every band gets its full window again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db.dialect import insert_for
from core.db.service_state import ServiceState
from core.settings import BandSettings
from gateway.metrics import BANDS_ONLINE
from registry.presence import count_bands_online

log = logging.getLogger(__name__)

EVERY_S = 5.0
GATEWAY_PREFIX = "gateway/"
CANARY_PREFIX = "canary/"


async def record_state(session: AsyncSession, *, name: str, connected_since: datetime | None, now: datetime) -> None:
    statement = insert_for(session, ServiceState).values(name=name, connected_since=connected_since, alive_at=now)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"connected_since": connected_since, "alive_at": now}
        )
    )


async def keep_alive(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    name: str,
    # Since when the gateway hears the broker and writes presence; None while it does not.
    connected_since: Callable[[], datetime | None],
    # Since when one of its connections hears nothing through the broker (the canary); None while all do.
    deaf_since: Callable[[], datetime | None],
    bands: BandSettings,
) -> None:
    while True:
        try:
            async with sessions() as session, session.begin():
                now = clock.now()
                await record_state(session, name=GATEWAY_PREFIX + name, connected_since=connected_since(), now=now)
                # The row's "since" column carries the deaf time, as the auditor's carries "stuck since".
                await record_state(session, name=CANARY_PREFIX + name, connected_since=deaf_since(), now=now)
                BANDS_ONLINE.set(await count_bands_online(session, now=clock.now(), bands=bands))
        except Exception as exc:  # the database is away: the alarm path reports it; try again
            log.debug("gateway liveness not recorded: %s", exc)
        await asyncio.sleep(EVERY_S)
