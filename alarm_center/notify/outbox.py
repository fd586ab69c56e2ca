"""The outbox sender: takes due notifications, marks them sending, delivers, records the result."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.notify.model import Notification, NotificationStatus
from alarm_center.notify.notifier import Notifier, OutgoingMessage
from opaska.clock import Clock

log = logging.getLogger(__name__)

SEND_DEADLINE = timedelta(seconds=60)
BATCH = 50
MAX_ATTEMPTS = 5


class OutboxSender:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], notifier: Notifier, clock: Clock) -> None:
        self._sessions = session_factory
        self._notifier = notifier
        self._clock = clock

    async def _claim_due(self) -> list[OutgoingMessage]:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            rows = (
                (
                    await session.execute(
                        select(Notification)
                        .where(
                            Notification.status == NotificationStatus.PENDING,
                            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
                        )
                        .order_by(Notification.id)
                        .limit(BATCH)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            for row in rows:
                row.status = NotificationStatus.SENDING
                row.deadline = now + SEND_DEADLINE
                row.attempts += 1
                row.updated_at = now
            return [OutgoingMessage(row.id, row.channel, row.to_phone, row.body) for row in rows]

    async def send_due(self) -> int:
        """Send what is due now; returns how many were attempted."""
        messages = await self._claim_due()
        for message in messages:
            try:
                provider_id = await self._notifier.send(message)
            except Exception as exc:
                log.warning("notification %d not sent: %s", message.notification_id, exc)
                await self._record_failure(message.notification_id, str(exc)[:500])
                continue
            await self._record(message.notification_id, NotificationStatus.SENT, provider_id=provider_id)
        return len(messages)

    async def _record(self, notification_id: int, status: NotificationStatus, *, provider_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(status=status, provider_id=provider_id, deadline=None, updated_at=self._clock.now())
            )

    async def _record_failure(self, notification_id: int, error: str) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            row = await session.get(Notification, notification_id)
            if row is None:
                return
            row.error = error
            row.deadline = None
            row.updated_at = now
            if row.attempts >= MAX_ATTEMPTS:
                row.status = NotificationStatus.FAILED
            else:
                row.status = NotificationStatus.PENDING
                row.next_attempt_at = now + timedelta(seconds=2**row.attempts)

    async def run(self, poll_s: float = 1.0) -> None:
        while True:
            try:
                if await self.send_due():
                    continue
            except Exception:
                log.exception("outbox pass failed; retrying")
            await asyncio.sleep(poll_s)
