"""Units of work for band messages: each commits, or raises and commits nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.model import AlarmKind
from gateway import repository
from gateway.judge import AlarmMessage, Rejection, TelemetryMessage
from registry.model import Resident


@dataclass(frozen=True)
class AlarmStored:
    band: str
    message_id: str
    alarm_id: int | None
    created: bool
    duplicate: bool


class BandMessageService:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def store_alarm(self, message: AlarmMessage, *, received_at: datetime) -> AlarmStored | Rejection:
        """Store the message and raise or merge its alarm, in one transaction."""
        async with self._sessions() as session, session.begin():
            band = await repository.band_by_serial(session, message.band)
            if band is None:
                return Rejection("unknown_band", f"no band {message.band!r} is registered", message.band, message.kind)
            stored_id = await repository.insert_band_message_once(
                session,
                {
                    "band_id": band.id,
                    "message_id": message.message_id,
                    "kind": message.kind,
                    "received_at": received_at,
                    "band_time": message.band_time,
                    "payload": message.payload,
                    "malformed": message.malformed,
                    "clock_suspect": message.clock_suspect,
                },
            )
            if stored_id is None:
                return AlarmStored(message.band, message.message_id, None, created=False, duplicate=True)
            municipality_id = None
            if band.resident_id is not None:
                municipality_id = (
                    await session.execute(select(Resident.municipality_id).where(Resident.id == band.resident_id))
                ).scalar_one()
            result = await raise_or_merge(
                session,
                band=band,
                resident_municipality_id=municipality_id,
                kind=AlarmKind(message.kind),
                band_message_id=stored_id,
                received_at=received_at,
            )
            return AlarmStored(message.band, message.message_id, result.alarm_id, result.created, duplicate=False)

    async def store_presence(self, latest: dict[str, tuple[TelemetryMessage, datetime]]) -> list[Rejection]:
        """Write the newest heartbeat of each band in one transaction; returns unknown bands."""
        rejected: list[Rejection] = []
        async with self._sessions() as session, session.begin():
            for serial, (message, received_at) in latest.items():
                band = await repository.band_by_serial(session, serial)
                if band is None:
                    rejected.append(
                        Rejection("unknown_band", f"no band {serial!r} is registered", serial, message.kind)
                    )
                    continue
                await repository.record_presence(
                    session,
                    band_id=band.id,
                    seen_at=received_at,
                    battery=message.fields.get("battery"),
                    charging=message.fields.get("charging"),
                    worn=message.fields.get("worn"),
                    signal=message.fields.get("signal"),
                )
        return rejected
