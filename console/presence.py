"""This console's row in `service_state`: alive, and whether a live client is connected, so escalation
can tell a centre with operators at their screens from one with nobody there."""

import asyncio
import logging
import os
import uuid
from datetime import datetime

from alarm_center.escalation import presence
from console.context import ConsoleContext
from core.clock import Clock

log = logging.getLogger(__name__)


class ConsolePresence:
    def __init__(self, context: ConsoleContext, clock: Clock) -> None:
        self._sessions = context.session_factory
        self._clock = clock
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.clients = 0
        self._since: datetime | None = None

    async def connected(self) -> None:
        self.clients += 1
        if self.clients == 1:
            self._since = self._clock.now()
        await self.record()

    async def disconnected(self) -> None:
        self.clients -= 1
        if self.clients == 0:
            self._since = None
        await self.record()

    async def record(self) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await presence.record_console(session, name=self.name, clients_since=self._since, now=self._clock.now())
        except Exception as exc:  # the database is away: alarms report it; the next beat tries again
            log.debug("console presence not recorded: %s", exc)

    async def run(self) -> None:
        while True:
            await self.record()
            await self._clock.sleep(presence.EVERY_S)
            await asyncio.sleep(0)  # a FakeClock moved far ahead returns without yielding
