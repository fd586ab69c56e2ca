"""Resident data rights (RODO/GDPR): export everything held about one resident; erase a resident
who leaves the programme, keeping their alarms as anonymous statistics.

Erasure keeps: the resident row (as "usunięty mieszkaniec", for the alarms' foreign keys), the
alarms' kind, times, status, outcome, priority and municipality, their events' types and times,
band history and test results (numbers only). It removes: names, address, phone, birth date,
access and medical notes, the key-safe code, the contacts, their welfare calls, every phone number
and text of the notifications about them, operators' notes on their alarms, free text in alarm events and band
history notes, what their bands reported with their alarms (positions), and the numbers of their
alarms' telephone calls; the calls' recordings are deleted at the provider right after the commit
(`alarm_center.voice.recording.delete_erased_recordings`, or the engine's sweep). After the commit,
`purge_residue` rewrites SQLite's file (VACUUM) so no deleted bytes stay on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase

from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.care.welfare_model import WelfareCall
from alarm_center.notify.model import Notification
from alarm_center.voice.model import VoiceCall
from alarm_center.voice.recording import ERASED_NUMBER
from core.clock import Clock
from registry.bands import unbind_band
from registry.model import (
    Band,
    BandEvent,
    BandStatus,
    BandTestResult,
    Contact,
    Municipality,
    ResidentDataAccess,
)
from registry.residents import get_resident
from registry.traffic.messages import BandMessage

ERASED_FIRST_NAME = "Usunięty"
ERASED_LAST_NAME = "mieszkaniec"
# Event detail keys whose text is ours (codes, not people's words); anything else textual is dropped.
SAFE_DETAIL_KEYS = frozenset(
    {
        "action",
        "call_outcome",
        "via",
        "channel",
        "targets",
        "why_not_cancelled",
        "outcome",
        "kind",
        "reason",
        "status",
        # Codes, not personal data: what a relative answered (TAK/NIE) and what Twilio said of a message.
        "answer",
        "provider_status",
        "template",
        "error_code",
        "why",
        # A call's event codes (alarm_center/voice): which call event, inbound or outbound, and
        # whom (band, resident, contact...): the kind, never the number or the name.
        "event",
        "direction",
        "target",
        "caller",
    }
)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(obj: DeclarativeBase, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        column.key: _json_value(getattr(obj, column.key))
        for column in obj.__table__.columns
        if column.key not in leave_out
    }


async def _alarm_ids(session: AsyncSession, resident_id: int) -> list[int]:
    return list((await session.execute(select(Alarm.id).where(Alarm.resident_id == resident_id))).scalars())


async def export_resident(session: AsyncSession, clock: Clock, *, resident_id: int) -> dict[str, Any]:
    """Everything held about the resident, as JSON-ready data. The key-safe code is reported as
    stored or not: it is encrypted under the console's key and handed over in person."""
    resident = await get_resident(session, resident_id=resident_id)
    municipality = await session.get(Municipality, resident.municipality_id)
    contacts = (
        await session.execute(select(Contact).where(Contact.resident_id == resident_id).order_by(Contact.priority))
    ).scalars()
    history = list(
        (
            await session.execute(select(BandEvent).where(BandEvent.resident_id == resident_id).order_by(BandEvent.id))
        ).scalars()
    )
    band_ids = {event.band_id for event in history}
    band_ids |= set((await session.execute(select(Band.id).where(Band.resident_id == resident_id))).scalars())
    worn = (await session.execute(select(Band).where(Band.id.in_(band_ids)).order_by(Band.id))).scalars()
    alarms = []
    for alarm in (
        await session.execute(select(Alarm).where(Alarm.resident_id == resident_id).order_by(Alarm.id))
    ).scalars():
        events = (
            await session.execute(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm.id).order_by(AlarmEvent.id))
        ).scalars()
        notifications = (
            await session.execute(
                select(Notification).where(Notification.alarm_id == alarm.id).order_by(Notification.id)
            )
        ).scalars()
        calls = (
            await session.execute(select(VoiceCall).where(VoiceCall.alarm_id == alarm.id).order_by(VoiceCall.id))
        ).scalars()
        alarms.append(
            {
                **_row(alarm),
                "events": [_row(event) for event in events],
                "notifications": [_row(notification, leave_out=("provider_id",)) for notification in notifications],
                # Telephone calls about the alarm; a recording is named as held or not (the audio
                # is the provider's, handed over on request), never by its provider reference.
                "calls": [_call_row(call) for call in calls],
            }
        )
    tests = (
        await session.execute(
            select(BandTestResult).where(BandTestResult.resident_id == resident_id).order_by(BandTestResult.id)
        )
    ).scalars()
    welfare = (
        await session.execute(
            select(WelfareCall).where(WelfareCall.resident_id == resident_id).order_by(WelfareCall.id)
        )
    ).scalars()
    readings = (
        await session.execute(
            select(ResidentDataAccess)
            .where(ResidentDataAccess.resident_id == resident_id)
            .order_by(ResidentDataAccess.id)
        )
    ).scalars()
    return {
        "exported_at": clock.now().isoformat(),
        "resident": {
            **_row(resident, leave_out=("key_safe_code_encrypted",)),
            "key_safe_code_stored": resident.key_safe_code_encrypted is not None,
        },
        "municipality": {"code": municipality.code, "name": municipality.name} if municipality else None,
        "contacts": [_row(contact) for contact in contacts],
        # Band credentials are the platform's, not the resident's: never exported.
        "bands": [
            _row(band, leave_out=("secret_hash", "test_mode_started_by", "credentials_revoked_at")) for band in worn
        ],
        "band_history": [_row(event) for event in history],
        "alarms": alarms,
        "installation_tests": [_row(result) for result in tests],
        # Welfare calls planned and made, with the coordinators' briefs and the operators' notes.
        "welfare_calls": [_row(call) for call in welfare],
        # Who read their medical notes in the registry (in an alarm, its events say so).
        "medical_notes_read": [_row(reading) for reading in readings],
    }


def _call_row(call: VoiceCall) -> dict[str, Any]:
    return {
        **_row(call, leave_out=("operator_call_sid", "far_call_sid", "recording_sid", "operator_address")),
        "recording_held": call.recording_sid is not None and call.recording_deleted_at is None,
    }


def _scrub_detail(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in detail.items()
        if key in SAFE_DETAIL_KEYS or value is None or isinstance(value, bool | int | float)
    }


async def erase_resident(session: AsyncSession, clock: Clock, *, resident_id: int, staff_id: int | None = None) -> None:
    """Anonymise the resident in the caller's transaction (see the module's docstring). Their bands
    go back to stock, recorded as done by `staff_id`; call `purge_residue` after the commit."""
    resident = await get_resident(session, resident_id=resident_id)
    for band_id in (
        await session.execute(select(Band.id).where(Band.resident_id == resident_id, Band.status != BandStatus.RETIRED))
    ).scalars():
        band = await unbind_band(session, clock, band_id=band_id, staff_id=staff_id)
        band.last_location = None
    resident.first_name = ERASED_FIRST_NAME
    resident.last_name = ERASED_LAST_NAME
    resident.address = ""
    resident.phone = None
    # Not even the year: with the municipality and alarm times it narrows a small gmina to a person.
    resident.birth_date = None
    resident.sex = None
    resident.access_notes = ""
    resident.medical_notes = ""
    resident.key_safe_code_encrypted = None
    # Nobody is left to have consented: no call about their alarms is recorded again.
    resident.call_recording_consent_at = None
    resident.active = False

    alarm_ids = await _alarm_ids(session, resident_id)
    contact_ids = list((await session.execute(select(Contact.id).where(Contact.resident_id == resident_id))).scalars())
    about_them = or_(Notification.alarm_id.in_(alarm_ids), Notification.contact_id.in_(contact_ids))
    await session.execute(
        update(Notification).where(about_them).values(to_phone="", body="", contact_id=None, error=None)
    )
    await session.execute(delete(Contact).where(Contact.resident_id == resident_id))
    # Their welfare calls: briefs and notes about their health, and nobody left to call.
    await session.execute(delete(WelfareCall).where(WelfareCall.resident_id == resident_id))
    if alarm_ids:
        # The numbers go; a blank number also marks the calls' recordings as due for deletion at
        # the provider (alarm_center/voice/recording.py): deleted right after the commit by
        # `delete_erased_recordings`, or by the engine's sweep if the provider cannot be reached
        # now. Nothing about the telephone holds an erasure up.
        their_calls = update(VoiceCall).where(VoiceCall.alarm_id.in_(alarm_ids))
        await session.execute(their_calls.values(number=ERASED_NUMBER, updated_at=clock.now()))
        await session.execute(update(Alarm).where(Alarm.id.in_(alarm_ids)).values(note=""))
        message_ids: set[int] = set()
        for alarm in (await session.execute(select(Alarm).where(Alarm.id.in_(alarm_ids)))).scalars():
            if alarm.first_message_id is not None:
                message_ids.add(alarm.first_message_id)
        for event in (await session.execute(select(AlarmEvent).where(AlarmEvent.alarm_id.in_(alarm_ids)))).scalars():
            message_id = event.detail.get("band_message_id") if event.detail else None
            if isinstance(message_id, int):
                message_ids.add(message_id)
            event.detail = _scrub_detail(event.detail or {})
        if message_ids:
            await session.execute(update(BandMessage).where(BandMessage.id.in_(message_ids)).values(payload={}))
    await session.execute(update(BandEvent).where(BandEvent.resident_id == resident_id).values(note=""))
    await session.flush()


async def purge_residue(engine: AsyncEngine) -> None:
    """After an erasure is committed: SQLite keeps deleted and overwritten bytes in free pages and
    in its write-ahead log until they are reused; rewrite the file and empty the log. PostgreSQL
    keeps old row versions until vacuumed; vacuum the tables erasure touches."""
    if engine.dialect.name == "sqlite":
        # A plain connection of its own: the engine's connections always begin a transaction
        # (BEGIN IMMEDIATE, core.db.engine), and neither VACUUM nor a checkpoint runs inside one.
        await asyncio.to_thread(_vacuum_sqlite, engine.url.database or "")
        return
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(
            text(
                "VACUUM resident, contact, notification, alarm, alarm_event, band_message, band_event, band,"
                " voice_call, welfare_call"
            )
        )


def _vacuum_sqlite(path: str) -> None:
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
