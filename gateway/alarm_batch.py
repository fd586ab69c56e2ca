"""A batch of alarm-lane messages (SOS, fall, fall cancel) stored in one transaction, set-based.

What the alarm worker drained from its queue in one go: bands looked up in one query, band
messages inserted in one statement (a redelivery is a duplicate, as one at a time), presence in
one executemany, alarms raised or merged by `raise_or_merge_many`. Order is kept where it matters:
a fall cancel sees every alarm before it in the batch and none after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.batch_intake import Press, raise_or_merge_many
from alarm_center.alarms.resident_cancel import cancel_fall_by_resident
from alarm_center.canary.kind import press_kind
from alarm_center.escalation.policy import PolicyBook
from core.db.dialect import insert_for
from gateway import repository
from gateway.judge import AlarmMessage, Rejection, TelemetryMessage
from gateway.presence import PresenceUpdate
from gateway.stored import AlarmStored, duplicate_of, message_row, unknown_band
from registry.installation_test import in_test_mode, record_test_result
from registry.model import Band, Resident
from registry.traffic.messages import BandMessage

AlarmLaneMessage = AlarmMessage | TelemetryMessage


@dataclass(frozen=True)
class CancelRules:
    window: timedelta
    needs_verification: bool


@dataclass
class _Stored:
    """A message of the batch that was stored (not a duplicate, not from an unknown band)."""

    index: int
    message: AlarmLaneMessage
    received_at: datetime
    band: Band
    municipality_id: int | None
    band_message_id: int


async def store_batch(
    session: AsyncSession,
    batch: Sequence[tuple[AlarmLaneMessage, datetime]],
    *,
    policies: PolicyBook | None,
    cancel: CancelRules,
    test_pass_latency_ms: int,
) -> list[AlarmStored | Rejection]:
    """Store each (message, received_at) and raise, merge or cancel its alarm. Does not commit."""
    bands = await _bands(session, {message.band for message, _ in batch})
    outcomes: list[AlarmStored | Rejection | None] = [None] * len(batch)
    fresh: list[tuple[int, Band, int | None]] = []
    seen_in_batch: set[tuple[int, str]] = set()
    for index, (message, _) in enumerate(batch):
        found = bands.get(message.band)
        if found is None:
            outcomes[index] = unknown_band(message.band, message.kind)
        elif (found[0].id, message.message_id) in seen_in_batch:
            outcomes[index] = duplicate_of(message)
        else:
            seen_in_batch.add((found[0].id, message.message_id))
            fresh.append((index, *found))
    ids = await _insert_messages(session, [(batch[i][0], batch[i][1], band) for i, band, _ in fresh])
    stored: list[_Stored] = []
    for index, band, municipality_id in fresh:
        message, received_at = batch[index]
        band_message_id = ids.get((band.id, message.message_id))
        if band_message_id is None:
            outcomes[index] = duplicate_of(message)
        else:
            stored.append(_Stored(index, message, received_at, band, municipality_id, band_message_id))
    await _record_seen(session, stored)

    run: list[_Stored] = []
    for item in stored:
        if isinstance(item.message, AlarmMessage):
            run.append(item)
            continue
        await _raise_run(session, run, outcomes, policies, test_pass_latency_ms)
        run = []
        result = await cancel_fall_by_resident(
            session,
            band=item.band,
            band_message_id=item.band_message_id,
            received_at=item.received_at,
            window=cancel.window,
            needs_verification=cancel.needs_verification,
        )
        outcomes[item.index] = AlarmStored(
            item.message.band, item.message.message_id, result.alarm_id, False, False, item.message.kind, result.outcome
        )
    await _raise_run(session, run, outcomes, policies, test_pass_latency_ms)
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


async def _bands(session: AsyncSession, serials: set[str]) -> dict[str, tuple[Band, int | None]]:
    """Each known band by serial, with its resident's municipality."""
    rows = await session.execute(
        select(Band, Resident.municipality_id)
        .outerjoin(Resident, Resident.id == Band.resident_id)
        .where(Band.serial.in_(serials))
    )
    return {band.serial: (band, municipality_id) for band, municipality_id in rows}


async def _insert_messages(
    session: AsyncSession, rows: list[tuple[AlarmLaneMessage, datetime, Band]]
) -> dict[tuple[int, str], int]:
    """Insert the band messages; the ids of those inserted (those stored before are left out)."""
    if not rows:
        return {}
    # Core table and executemany (batched into multi-row INSERTs by the driver layer, compiled
    # once and cached): a multi-row .values() is compiled afresh for every batch (profiled: half the time).
    table = cast(Table, BandMessage.__table__)
    statement = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["band_id", "message_id"])
        .returning(table.c.id, table.c.band_id, table.c.message_id)
    )
    result = await session.execute(
        statement, [message_row(band, message, received_at) for message, received_at, band in rows]
    )
    return {(band_id, message_id): row_id for row_id, band_id, message_id in result}


async def _record_seen(session: AsyncSession, stored: list[_Stored]) -> None:
    updates: dict[int, PresenceUpdate] = {}
    for item in stored:
        update_ = updates.setdefault(item.band.id, PresenceUpdate())
        update_.seen(item.received_at)
        update_.sent(item.message.kind, item.received_at)
    await repository.record_presence_many(session, list(updates.items()))


async def _raise_run(
    session: AsyncSession,
    run: list[_Stored],
    outcomes: list[AlarmStored | Rejection | None],
    policies: PolicyBook | None,
    test_pass_latency_ms: int,
) -> None:
    """Raise or merge the alarms of consecutive SOS and fall messages, set-based."""
    if not run:
        return
    presses = [
        Press(
            band_id=item.band.id,
            resident_id=item.band.resident_id,
            municipality_id=item.municipality_id,
            # The platform's canary band raises a canary alarm (alarm_center/canary/).
            kind=press_kind(item.band, item.message.kind),
            # Judged by the time of receipt, so a test mode that expired while the press was in
            # flight gives a real alarm: when in doubt, the resident's relatives are told.
            is_test=in_test_mode(item.band, item.received_at),
            band_message_id=item.band_message_id,
            received_at=item.received_at,
        )
        for item in run
    ]
    results = await raise_or_merge_many(session, presses, policies)
    for item, press, result in zip(run, presses, results, strict=True):
        message = item.message
        assert isinstance(message, AlarmMessage)
        if press.is_test and result.created:
            await record_test_result(
                session,
                band=item.band,
                alarm_id=result.alarm_id,
                kind=message.kind,
                pressed_at=message.band_time,
                clock_believable=not message.clock_suspect,
                received_at=item.received_at,
                pass_latency_ms=test_pass_latency_ms,
            )
        outcomes[item.index] = AlarmStored(
            message.band, message.message_id, result.alarm_id, result.created, False, message.kind
        )
