"""The engine process: the workers that act on alarms over time (escalation, the outbox, supervision)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.notify.notifier import Notifier, OfflineNotifier
from alarm_center.notify.outbox import OutboxSender
from alarm_center.supervision.loop import run_supervision
from opaska.clock import Clock
from opaska.settings import Settings


def make_notifier(settings: Settings) -> Notifier:
    match settings.notify.mode:
        case "outbox":
            return OfflineNotifier()


async def run_engine(settings: Settings, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    sender = OutboxSender(session_factory, make_notifier(settings), clock)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(sender.run(), name="outbox")
        tasks.create_task(run_supervision(settings, session_factory, clock), name="supervision")
