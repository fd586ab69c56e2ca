"""The outbox sender: takes due notifications, marks them sending, delivers, records the result.

A row is `sending` from the moment it is claimed until the provider's answer is recorded, with a
deadline. While it is `sending`, `next_attempt_at` holds when this attempt started: the moment to
look from when it has to be reconciled. A send whose answer was lost stays `sending` a little
longer (`reconcile_after_s`): Twilio's status callback (which names the notification in its URL)
usually settles it first, and Twilio's lists lag behind its creates, so asking them at once could
miss the message and send it again. A row still `sending` after its deadline (the answer lost, or the sender died) is
never sent blindly again: what went to that number since the attempt started is listed, and only if
nothing did is it sent once more.

Which listed message is whose: messages and calls to the number that no row owns yet are paired, in
order of creation, with the rows to that number still waiting for their outcome, in order of their
attempts. If the two counts differ the pairing is a guess, and a guess can call a relative about the
wrong alarm or leave one uncalled: the row waits (callbacks may settle the others), and a row that
stays unsettled for GIVE_UP_UNKNOWN_AFTER is failed and falls back, never sent twice on one channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.notify import repository, service
from alarm_center.notify.metrics import NOTIFICATIONS, OUTBOX_PASS_FAILURES, SEND_SECONDS
from alarm_center.notify.model import Channel, Notification, NotificationStatus
from alarm_center.notify.notifier import (
    Notifier,
    OutcomeUnknown,
    OutgoingMessage,
    PermanentFailure,
    Sent,
    mask_phone,
    same_text,
)
from alarm_center.notify.repository import ALERT_TEMPLATES
from core.clock import Clock

log = logging.getLogger(__name__)

# How long a send whose outcome cannot be learnt (the provider unreachable) stays `sending`.
GIVE_UP_UNKNOWN_AFTER = timedelta(minutes=10)

BATCH = 50
PARALLEL_SENDS = 10


@dataclass(frozen=True)
class OutboxPolicy:
    # Tries before a notification is failed (and an SMS falls back to a call).
    max_attempts: int = 5
    # Backoff after the n-th failed try: retry_base_s * 2**(n-1), at most retry_max_s.
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    # How long a claimed row may stay `sending` before it is reconciled. Longer than any one
    # request to the provider can take (the notifier bounds those), so a live send is never
    # reconciled under its own feet.
    send_deadline_s: float = 60.0
    # A send whose answer was lost is reconciled this long after, not at once: time for Twilio's
    # status callback to settle it, and for Twilio's lists (which lag behind) to show it.
    reconcile_after_s: float = 15.0
    # At most this many messages and calls to one number per minute (a loop in a policy, or many
    # alarms at once, must not flood a relative's phone); the rest wait their turn.
    per_number_per_minute: int = 6

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.retry_max_s, self.retry_base_s * 2 ** max(0, attempts - 1)))


DEFAULT_POLICY = OutboxPolicy()


class _RateLimit:
    """A sliding minute per number. In memory: one sender per centre is the deployment today; with
    several, each keeps its own window (a looser limit, never a lost message)."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._sent: defaultdict[str, deque[datetime]] = defaultdict(deque)

    def next_free(self, phone: str, now: datetime) -> datetime | None:
        """None if one more may go to `phone` now (and counts it), else when the next may."""
        window = self._sent[phone]
        while window and window[0] <= now - timedelta(minutes=1):
            window.popleft()
        if len(window) >= self._per_minute:
            return window[0] + timedelta(minutes=1)
        window.append(now)
        return None


class OutboxSender:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        notifier: Notifier,
        clock: Clock,
        policy: OutboxPolicy = DEFAULT_POLICY,
    ) -> None:
        self._sessions = session_factory
        self._notifier = notifier
        self._clock = clock
        self._policy = policy
        self._limit = _RateLimit(policy.per_number_per_minute)

    async def send_due(self) -> int:
        """Reconcile rows left sending, then send what is due now; returns how many were attempted."""
        reconciled = await self.reconcile_stale()
        messages = await self._claim_due()
        # Side by side: one hung request (up to the notifier's timeout) must not hold up an SOS
        # behind it. Bounded, so a long batch does not open a connection per row.
        gate = asyncio.Semaphore(PARALLEL_SENDS)

        async def one(message: OutgoingMessage, started: datetime) -> None:
            async with gate:
                await self._send_one(message, started)

        await asyncio.gather(*(one(message, started) for message, started in messages))
        return reconciled + len(messages)

    # -- claiming -------------------------------------------------------------------------------------------

    async def _claim_due(self) -> list[tuple[OutgoingMessage, datetime]]:
        now = self._clock.now()
        claimed: list[tuple[OutgoingMessage, datetime]] = []
        async with self._sessions() as session, session.begin():
            rows = await repository.due(session, now=now, limit=BATCH)
            closed = await repository.closed_alarms(
                session, {row.alarm_id for row in rows if row.template in ALERT_TEMPLATES and row.alarm_id is not None}
            )
            stopped = await repository.opted_out(session, {row.to_phone for row in rows if row.channel == Channel.SMS})
            for row in rows:
                if row.template in ALERT_TEMPLATES and row.alarm_id in closed:
                    # Resolved or cancelled before it went out: an alert now would send someone for nothing.
                    row.status, row.error, row.updated_at = NotificationStatus.CANCELLED, "alarm closed", now
                    NOTIFICATIONS.labels(row.channel, "cancelled").inc()
                    continue
                if row.to_phone in stopped and row.channel == Channel.SMS and row.template != "reply_stopped":
                    # The relative sent STOP: no SMS; an alert becomes a call instead.
                    row.status, row.error, row.updated_at = NotificationStatus.FAILED, "opted out (STOP)", now
                    NOTIFICATIONS.labels(row.channel, "failed").inc()
                    await service.fallback_to_voice(session, row, at=now)
                    continue
                free_at = self._limit.next_free(row.to_phone, now)
                if free_at is not None:
                    row.next_attempt_at, row.updated_at = free_at, now
                    NOTIFICATIONS.labels(row.channel, "rate_limited").inc()
                    continue
                row.status = NotificationStatus.SENDING
                row.deadline = now + timedelta(seconds=self._policy.send_deadline_s)
                row.next_attempt_at = now  # while sending: when this attempt started
                row.attempts += 1
                row.updated_at = now
                claimed.append((_message(row), now))
        return claimed

    # -- sending --------------------------------------------------------------------------------------------

    async def _send_one(self, message: OutgoingMessage, started: datetime) -> None:
        began = time.perf_counter()
        try:
            answer = await self._notifier.send(message)
        except PermanentFailure as exc:
            SEND_SECONDS.labels(message.channel).observe(time.perf_counter() - began)
            # Twilio's text for a refused number quotes the number: log the code only.
            log.warning("notification %d refused for good (%s)", message.notification_id, type(exc).__name__)
            await self._failed(message.notification_id, str(exc), final=True)
            return
        except OutcomeUnknown as exc:
            SEND_SECONDS.labels(message.channel).observe(time.perf_counter() - began)
            log.warning(
                "notification %d: outcome unknown (%s); reconciled shortly unless Twilio tells first",
                message.notification_id,
                exc,
            )
            await self._outcome_unknown(message.notification_id, str(exc))
            return
        except Exception as exc:
            SEND_SECONDS.labels(message.channel).observe(time.perf_counter() - began)
            log.warning("notification %d not sent: %s", message.notification_id, exc)
            await self._failed(message.notification_id, str(exc) or type(exc).__name__, final=False)
            return
        SEND_SECONDS.labels(message.channel).observe(time.perf_counter() - began)
        await self._sent(message, answer if isinstance(answer, Sent) else Sent(answer), result="sent")

    async def _sent(self, message: OutgoingMessage, sent: Sent, *, result: str) -> None:
        try:
            async with self._sessions() as session, session.begin():
                now = self._clock.now()
                await repository.mark_sent(
                    session,
                    notification_id=message.notification_id,
                    provider_id=sent.provider_id,
                    provider_status=sent.provider_status,
                    test_mode=sent.test_mode,
                    at=now,
                )
                row = await session.get(Notification, message.notification_id)
                if row is not None:
                    if sent.test_mode:
                        await service.record_not_sent_in_test_mode(session, row, at=now)
                    await service.all_clear_if_told_after_close(session, row, at=now)
        except IntegrityError:
            # Another row already owns this provider id: two rows, one message. Keep the row
            # sending; reconciliation (which skips known ids) settles it.
            log.error(
                "notification %d: provider id %s belongs to another row", message.notification_id, sent.provider_id
            )
            return
        NOTIFICATIONS.labels(message.channel, result).inc()

    async def _failed(self, notification_id: int, error: str, *, final: bool) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            row = await session.get(Notification, notification_id, with_for_update=True)
            if row is None or row.status != NotificationStatus.SENDING:
                return
            row.error = error[:500]
            row.deadline = None
            row.updated_at = now
            if final or row.attempts >= self._policy.max_attempts:
                row.status = NotificationStatus.FAILED
                NOTIFICATIONS.labels(row.channel, "failed").inc()
                await service.fallback_to_voice(session, row, at=now)
                await service.next_contact_if_unanswered(session, row, at=now)
            else:
                row.status = NotificationStatus.PENDING
                row.next_attempt_at = now + self._policy.backoff(row.attempts)
                NOTIFICATIONS.labels(row.channel, "retried").inc()

    # -- reconciling ----------------------------------------------------------------------------------------

    async def _outcome_unknown(self, notification_id: int, error: str) -> None:
        """Left `sending`, to be reconciled a little later, the error kept for the console."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            row = await session.get(Notification, notification_id, with_for_update=True)
            if row is not None and row.status == NotificationStatus.SENDING:
                row.error, row.updated_at = f"outcome unknown: {error}"[:500], now
                row.deadline = now + timedelta(seconds=self._policy.reconcile_after_s)

    async def _reconcile(self, message: OutgoingMessage, *, since: datetime, why: str) -> None:
        """Was it sent after all? Found: recorded, not resent. Not found: a failed try (retried).
        The provider cannot be asked, or the answer is ambiguous: left sending for a later look."""
        async with self._sessions() as session:
            row = await session.get(Notification, message.notification_id)
            if row is None or row.status != NotificationStatus.SENDING:
                return  # settled meanwhile (a status callback)
            if row.provider_id is not None:
                # A callback named it (e.g. "queued", which moves no status): that is the proof.
                await session.rollback()
                await self._sent(message, Sent(row.provider_id), result="reconciled")
                return
            known = await repository.known_provider_ids(
                session, to_phone=message.to_phone, except_id=message.notification_id
            )
            waiting = [
                other.id
                for other in await repository.unsettled_sends(
                    session, to_phone=message.to_phone, channel=message.channel
                )
                if message.channel == Channel.VOICE or same_text(other.body, message.body)
            ]
        try:
            listed = await self._notifier.find_sent(message, since=since, known=known)
        except OutcomeUnknown as exc:
            log.warning("notification %d: cannot reconcile yet (%s)", message.notification_id, exc)
            await self._still_unknown(message.notification_id, str(exc))
            return
        if not listed:
            await self._failed(message.notification_id, f"{why}; not found at the provider", final=False)
            return
        if len(waiting) <= 1:
            found = listed[0]  # only ours can be there; a second one would be an earlier try of ours
        elif len(listed) == len(waiting):
            found = listed[waiting.index(message.notification_id)] if message.notification_id in waiting else ""
        else:
            found = ""
        if not found:
            log.warning(
                "notification %d: %d sends to %s wait for their outcome and %d were found; not guessing",
                message.notification_id,
                len(waiting),
                mask_phone(message.to_phone),
                len(listed),
            )
            await self._still_unknown(message.notification_id, f"{why}; cannot tell which send is this one")
            return
        log.info("notification %d was sent after all (%s); not resent", message.notification_id, found)
        await self._sent(message, Sent(found), result="reconciled")

    async def _still_unknown(self, notification_id: int, error: str) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            row = await session.get(Notification, notification_id, with_for_update=True)
            if row is None or row.status != NotificationStatus.SENDING:
                return
            row.error = f"outcome unknown: {error}"[:500]
            started = row.next_attempt_at or row.created_at
            if now - started >= GIVE_UP_UNKNOWN_AFTER:
                # The provider could not be asked for this long: an alert must not hang in limbo.
                # Failed, and an SMS falls back to a call (another channel, so never the same SMS twice).
                log.error("notification %d: outcome still unknown after %s; failed", row.id, GIVE_UP_UNKNOWN_AFTER)
                row.status, row.deadline, row.updated_at = NotificationStatus.FAILED, None, now
                NOTIFICATIONS.labels(row.channel, "failed").inc()
                await service.fallback_to_voice(session, row, at=now)
                await service.next_contact_if_unanswered(session, row, at=now)
                return
            # Stays `sending` (never resent unasked); the next look once the backoff is over.
            row.deadline = now + self._policy.backoff(row.attempts)
            row.updated_at = now

    async def reconcile_stale(self) -> int:
        """Rows left `sending` past their deadline (an answer lost, a crash mid-send): reconciled,
        never resent blindly."""
        now = self._clock.now()
        stale: list[tuple[OutgoingMessage, datetime, str]] = []
        async with self._sessions() as session, session.begin():
            for row in await repository.stale_sending(session, now=now, limit=BATCH):
                started = row.next_attempt_at or row.updated_at
                # Ours for the reconciling: another sender will not take it meanwhile.
                row.deadline = now + timedelta(seconds=self._policy.send_deadline_s)
                why = (row.error or "").removeprefix("outcome unknown: ") or "left sending past its deadline"
                stale.append((_message(row), started, why))
        for message, started, why in stale:
            phone = mask_phone(message.to_phone)
            log.info("notification %d to %s: outcome unknown; reconciling", message.notification_id, phone)
            await self._reconcile(message, since=started, why=why)
        return len(stale)

    # -- the loop -------------------------------------------------------------------------------------------

    async def run(self, poll_s: float = 1.0) -> None:
        try:
            while True:
                try:
                    if await self.send_due():
                        continue
                except Exception:
                    OUTBOX_PASS_FAILURES.inc()
                    log.exception("outbox pass failed; retrying")
                await asyncio.sleep(poll_s)
        finally:
            close = getattr(self._notifier, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


def _message(row: Notification) -> OutgoingMessage:
    return OutgoingMessage(row.id, row.channel, row.to_phone, row.body)
