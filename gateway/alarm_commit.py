"""An accepted alarm is stored until it commits: never dropped for a database fault.

If the database keeps refusing it (or storing it fails in any other way), something in the message
itself may be what it refuses: an alarm is then stored bare (kind, band, time of receipt and a
derived id), a fall cancel is refused (the fall stays open: the safe side).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from alarm_center.alarms.intake import IntakeRace
from core.mqtt.reconnect import Backoff
from gateway.judge import AlarmMessage, Reason, Rejection, TelemetryMessage, minimal_alarm
from gateway.metrics import DB_RETRIES
from gateway.queues import Received
from gateway.stored import AlarmStored

log = logging.getLogger(__name__)

FAILURES_BEFORE_MINIMAL_PAYLOAD = 3

Store = Callable[[AlarmMessage | TelemetryMessage, Received], Awaitable[AlarmStored | Rejection]]


async def store_until_committed(
    store: Store, message: AlarmMessage | TelemetryMessage, item: Received
) -> AlarmStored | Rejection:
    backoff = Backoff(first_s=0.2, max_s=5.0)
    failures = 0
    while True:
        try:
            return await store(message, item)
        except IntakeRace:
            await asyncio.sleep(0)
            continue
        except Exception as exc:
            failures += 1
            is_database = isinstance(exc, DBAPIError | OSError)
            if is_database:
                DB_RETRIES.inc()
            else:
                log.exception("storing %s from band %s failed", message.kind, message.band)
            if failures >= FAILURES_BEFORE_MINIMAL_PAYLOAD or not is_database:
                if isinstance(message, TelemetryMessage):
                    if not is_database or isinstance(exc, DataError | IntegrityError):
                        return Rejection(
                            Reason.INVALID, f"not storable: {type(exc).__name__}", message.band, message.kind
                        )
                elif not message.payload.get("unstorable"):
                    # The payload is not logged (it may hold the resident's location): its size
                    # and hash identify it, the band's repeats carry it.
                    log.error(
                        "alarm from band %s: storing it without its payload (%d bytes, sha256 %s)",
                        message.band,
                        len(item.message.payload),
                        hashlib.sha256(item.message.payload).hexdigest()[:16],
                    )
                    message = minimal_alarm(message.band, message.kind, item.message.payload, item.received_at)
                    continue
            delay = backoff.next_delay()
            log.error(
                "cannot commit %s from band %s (%s); retrying in %.1f s",
                message.kind,
                message.band,
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)


BatchItem = tuple[AlarmMessage | TelemetryMessage, Received]
StoreBatch = Callable[[list[BatchItem]], Awaitable[list[AlarmStored | Rejection]]]


async def store_batch_until_committed(
    store_batch: StoreBatch, store: Store, batch: list[BatchItem]
) -> list[AlarmStored | Rejection]:
    """Store the batch in one transaction, set-based, even a batch of one (a lone SOS: the latency
    path). One that keeps failing is split in halves (in order), down to single messages stored as
    `store_until_committed` does: a database outage is waited out, and a message the database
    refuses holds up only itself."""
    backoff = Backoff(first_s=0.2, max_s=5.0)
    failures = 0
    while failures < FAILURES_BEFORE_MINIMAL_PAYLOAD:
        try:
            return await store_batch(batch)
        except IntakeRace:
            await asyncio.sleep(0)
            continue
        except Exception as exc:
            failures += 1
            if isinstance(exc, DBAPIError | OSError):
                DB_RETRIES.inc()
                log.error("cannot commit a batch of %d alarm messages (%s)", len(batch), type(exc).__name__)
            else:
                log.exception("storing a batch of %d alarm messages failed", len(batch))
                break
            await asyncio.sleep(backoff.next_delay())
    if len(batch) == 1:
        message, item = batch[0]
        return [await store_until_committed(store, message, item)]
    half = len(batch) // 2
    return [
        *await store_batch_until_committed(store_batch, store, batch[:half]),
        *await store_batch_until_committed(store_batch, store, batch[half:]),
    ]


def log_stored(verdict: AlarmMessage | TelemetryMessage | Rejection, outcome: AlarmStored) -> None:
    """What a person reading the log must know of a stored alarm: ids and kinds only, personal
    data stays in the database; doubts about the message and anything that smells of an attack."""
    if isinstance(verdict, AlarmMessage):
        if verdict.names_other_band is not None:
            log.warning(
                "SECURITY: alarm on band %s's topic names band %r: raised for %s, check the band and the ACL",
                verdict.band,
                verdict.names_other_band,
                verdict.band,
            )
        if verdict.malformed or verdict.clock_suspect:
            log.warning(
                "alarm from band %s accepted despite: %s",
                verdict.band,
                "; ".join(verdict.problems) or "band clock not believable",
            )
    if outcome.created:
        log.info("alarm %d raised: %s from band %s", outcome.alarm_id, outcome.kind, outcome.band)
    elif outcome.cancel is not None:
        log.info("fall cancel from band %s: %s (alarm %s)", outcome.band, outcome.cancel, outcome.alarm_id)
