"""Units of work for band messages: each commits, or raises and commits nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.resident_cancel import cancel_fall_by_resident
from alarm_center.canary.kind import press_kind
from alarm_center.escalation.policy import PolicySource
from gateway import repository
from gateway.alarm_batch import CancelRules, store_batch
from gateway.judge import AlarmMessage, Rejection, TelemetryMessage
from gateway.presence import PresenceBatch
from gateway.stored import AlarmStored, duplicate_of, message_row, unknown_band
from registry.installation_test import in_test_mode, record_test_result
from registry.model import Band, Resident
from registry.traffic.dead_letters import DeadLetterEntry, keep_dead_letters


@dataclass
class ReportsStored:
    """What a presence batch found: bands nobody registered, and reports stored before."""

    unknown_bands: set[str] = field(default_factory=set)
    duplicates: set[tuple[str, str]] = field(default_factory=set)


class BandMessageService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        test_pass_latency_ms: int = 5000,
        policies: PolicySource | None = None,
    ) -> None:
        self._sessions = session_factory
        self._test_pass_latency_ms = test_pass_latency_ms
        # The escalation policies new alarms take (re-read when the file changes); None: the shipped ones.
        self._policies = policies

    async def store_alarm(self, message: AlarmMessage, *, received_at: datetime) -> AlarmStored | Rejection:
        """Store the message and raise or merge its alarm, in one transaction."""
        async with self._sessions() as session, session.begin():
            band = await repository.band_by_serial(session, message.band)
            if band is None:
                return unknown_band(message.band, message.kind)
            stored_id = await repository.insert_band_message_once(session, message_row(band, message, received_at))
            if stored_id is None:
                return duplicate_of(message)
            await repository.record_seen(session, band_id=band.id, seen_at=received_at, kind=message.kind)
            municipality_id = None
            if band.resident_id is not None:
                municipality_id = (
                    await session.execute(select(Resident.municipality_id).where(Resident.id == band.resident_id))
                ).scalar_one()
            # Judged by the time of receipt, so a test mode that expired while the press was in
            # flight gives a real alarm: when in doubt, the resident's relatives are told.
            is_test = in_test_mode(band, received_at)
            result = await raise_or_merge(
                session,
                band=band,
                resident_municipality_id=municipality_id,
                kind=press_kind(band, message.kind),
                band_message_id=stored_id,
                received_at=received_at,
                is_test=is_test,
                policies=self._policies.current() if self._policies is not None else None,
            )
            if is_test and result.created:
                await record_test_result(
                    session,
                    band=band,
                    alarm_id=result.alarm_id,
                    kind=message.kind,
                    pressed_at=message.band_time,
                    clock_believable=not message.clock_suspect,
                    received_at=received_at,
                    pass_latency_ms=self._test_pass_latency_ms,
                )
            return AlarmStored(message.band, message.message_id, result.alarm_id, result.created, False, message.kind)

    async def store_alarm_batch(
        self, batch: Sequence[tuple[AlarmMessage | TelemetryMessage, datetime]], *, cancel: CancelRules
    ) -> list[AlarmStored | Rejection]:
        """Store many alarm-lane messages in one transaction, set-based (`gateway.alarm_batch`): the
        outcome of `store_alarm` / `store_fall_cancel` called for each in order."""
        async with self._sessions() as session, session.begin():
            return await store_batch(
                session,
                batch,
                policies=self._policies.current() if self._policies is not None else None,
                cancel=cancel,
                test_pass_latency_ms=self._test_pass_latency_ms,
            )

    async def store_fall_cancel(
        self, message: TelemetryMessage, *, received_at: datetime, cancel: CancelRules
    ) -> AlarmStored | Rejection:
        """Store "I am OK" and cancel the band's open fall alarm if still inside the window."""
        async with self._sessions() as session, session.begin():
            band = await repository.band_by_serial(session, message.band)
            if band is None:
                return unknown_band(message.band, message.kind)
            stored_id = await repository.insert_band_message_once(session, message_row(band, message, received_at))
            if stored_id is None:
                return duplicate_of(message)
            await repository.record_seen(session, band_id=band.id, seen_at=received_at, kind=message.kind)
            result = await cancel_fall_by_resident(
                session,
                band=band,
                band_message_id=stored_id,
                received_at=received_at,
                window=cancel.window,
                needs_verification=cancel.needs_verification,
            )
            return AlarmStored(
                message.band, message.message_id, result.alarm_id, False, False, message.kind, result.outcome
            )

    async def store_reports(
        self, batch: PresenceBatch, dead_letters: list[DeadLetterEntry], *, dead_letter_keep: int
    ) -> ReportsStored:
        """One transaction per flush: presence of every band heard, rarer reports, dead letters."""
        outcome = ReportsStored()
        async with self._sessions() as session, session.begin():
            band_ids = await repository.band_ids_by_serial(session, list(batch.updates))
            outcome.unknown_bands = set(batch.updates) - set(band_ids)
            await repository.record_presence_many(
                session, [(band_ids[serial], u) for serial, u in batch.updates.items() if serial in band_ids]
            )
            for report in batch.recorded:
                band_id = band_ids.get(report.message.band)
                if band_id is None:
                    continue
                row = message_row(Band(id=band_id), report.message, report.received_at)
                if await repository.insert_band_message_once(session, row) is None:
                    outcome.duplicates.add((report.message.band, report.message.message_id))
            await keep_dead_letters(session, dead_letters, keep=dead_letter_keep)
        return outcome
