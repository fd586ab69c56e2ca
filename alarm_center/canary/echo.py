"""The engine's part of the canary: every canary alarm open is closed at once (auto-cleared by the
system, as the lifecycle allows a technical alarm), and canary alarms closed long ago are deleted,
with their events and the band's messages, so the canary leaves no trail in the reports' tables.

That the engine closes it is the proof, on the console's feed, that the engine is alive.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Actor, Move, Seen, apply_move_many
from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmEvent, AlarmKind
from alarm_center.canary import metrics
from alarm_center.escalation.model import Escalation
from core.clock import Clock
from core.poll import poll_forever
from core.settings import Settings
from registry.model import Band
from registry.traffic.messages import BandMessage

log = logging.getLogger(__name__)

# The last hour's canaries stay, for whoever looks into a lost one.
KEEP = timedelta(hours=1)
PURGE_EVERY = timedelta(minutes=10)


async def close_canaries(session: AsyncSession, *, now: datetime) -> list[int]:
    """Close every open canary alarm; the ids closed. Does not commit."""
    rows = (
        await session.execute(
            select(Alarm.id, Alarm.status).where(
                Alarm.kind == AlarmKind.CANARY.value, Alarm.status.in_([s.value for s in OPEN_STATUSES])
            )
        )
    ).all()
    if not rows:
        return []
    seen = [Seen(alarm_id, status, {"canary": True}) for alarm_id, status in rows]
    return await apply_move_many(session, at=now, move=Move.AUTO_CLEAR, actor=Actor.system(), alarms=seen)


async def purge_canaries(session: AsyncSession, *, now: datetime) -> int:
    """Delete canary alarms closed before the last hour, and the canary band's old messages."""
    old = select(Alarm.id).where(Alarm.kind == AlarmKind.CANARY.value, Alarm.closed_at < now - KEEP)
    ids = list((await session.execute(old)).scalars())
    if ids:
        await session.execute(delete(AlarmEvent).where(AlarmEvent.alarm_id.in_(ids)))
        await session.execute(delete(Escalation).where(Escalation.alarm_id.in_(ids)))
        await session.execute(delete(Alarm).where(Alarm.id.in_(ids)))
    canary_bands = select(Band.id).where(Band.is_canary.is_(True))
    # Only canary alarms point at the canary band's messages: those kept for the last hour.
    still_referenced = select(Alarm.first_message_id).where(
        Alarm.kind == AlarmKind.CANARY.value, Alarm.first_message_id.is_not(None)
    )
    await session.execute(
        delete(BandMessage).where(
            BandMessage.band_id.in_(canary_bands),
            BandMessage.received_at < now - KEEP,
            BandMessage.id.not_in(still_referenced),
        )
    )
    return len(ids)


class CanaryEcho:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._purged_at: datetime | None = None

    async def run_pass(self) -> list[int]:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            closed = await close_canaries(session, now=now)
        if self._purged_at is None or now - self._purged_at >= PURGE_EVERY:
            async with self._sessions() as session, session.begin():
                purged = await purge_canaries(session, now=now)
            self._purged_at = now
            if purged:
                log.debug("purged %d canary alarms", purged)
        return closed


async def run_canary_echo(settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    """Close canary alarms as they come, until cancelled."""
    echo = CanaryEcho(sessions, clock)
    await poll_forever(
        echo.run_pass,
        every_s=settings.canary.echo_poll_s,
        clock=clock,
        round_seconds=metrics.CANARY_ECHO_SECONDS,
        failures=metrics.CANARY_ECHO_FAILURES,
        log=log,
        what="canary echo pass",
    )
