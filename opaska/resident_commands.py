"""`opaska resident …` and `opaska contact …`: the participants' list from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import SystemClock
from core.db.engine import make_session_factory
from core.settings import Settings
from opaska.cli_json import print_json
from opaska.cli_time import local
from opaska.exits import BAD_INPUT, FAILED
from opaska.messages import say
from opaska.registry_cli import refuse, refusing_bad_input, transaction
from opaska.startup import open_database
from registry import bands, contacts, municipalities, residents
from registry.errors import RegistryError
from registry.model import Band, BandStatus, Resident


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RegistryError(field="birth_date", message=say("resident.bad_birth_date", value=value)) from None


def _line(resident: Resident) -> str:
    state = "" if resident.active else say("resident.inactive")
    return f"{resident.id:>6}  {resident.last_name} {resident.first_name}, {resident.address or '-'}{state}"


@refusing_bad_input
async def add(
    settings: Settings,
    *,
    municipality: str,
    first_name: str,
    last_name: str,
    address: str,
    birth_date: str | None,
    phone: str | None,
    language: str,
    access_notes: str,
    medical_notes: str,
) -> None:
    async with transaction(settings) as session:
        found = await municipalities.get_by_code(session, code=municipality)
        resident = await residents.create_resident(
            session,
            SystemClock(),
            municipality_id=found.id,
            first_name=first_name,
            last_name=last_name,
            address=address,
            birth_date=_date(birth_date),
            phone=phone,
            language=language,
            access_notes=access_notes,
            medical_notes=medical_notes,
        )
        print(
            say(
                "resident.add.done", id=resident.id, first=resident.first_name, last=resident.last_name, code=found.code
            )
        )


@refusing_bad_input
async def list_residents(
    settings: Settings, *, municipality: str | None, include_inactive: bool, as_json: bool = False
) -> None:
    async with transaction(settings) as session:
        municipality_id = (await municipalities.get_by_code(session, code=municipality)).id if municipality else None
        found = await residents.list_residents(
            session, municipality_id=municipality_id, include_inactive=include_inactive
        )
        if as_json:
            print_json(
                [
                    {
                        "id": r.id,
                        "first_name": r.first_name,
                        "last_name": r.last_name,
                        "municipality_id": r.municipality_id,
                        "active": r.active,
                    }
                    for r in found
                ]
            )
            return
        for resident in found:
            print(_line(resident))
        if not found:
            print(say("resident.list.none"))


@refusing_bad_input
async def show(settings: Settings, *, resident_id: int) -> None:
    """The resident's card: contacts in calling order, bands, band history. No medical notes
    (they are read, audited, in the console only)."""
    async with transaction(settings) as session:
        resident = await residents.get_resident(session, resident_id=resident_id)
        print(_line(resident))
        born = resident.birth_date.isoformat() if resident.birth_date else "-"
        print(say("resident.show.details", born=born, phone=resident.phone or "-", language=resident.language))
        for contact in await contacts.list_contacts(session, resident_id=resident_id):
            key = say("contact.has_key") if contact.has_key else ""
            print(
                say(
                    "resident.show.contact",
                    id=contact.id,
                    priority=contact.priority,
                    name=contact.name,
                    relation=contact.relation or "-",
                    phone=contact.phone,
                    language=contact.language,
                    key=key,
                )
            )
        worn = (
            await session.execute(select(Band).where(Band.resident_id == resident_id, Band.status == BandStatus.ACTIVE))
        ).scalars()
        for band in worn:
            seen = local(band.last_seen_at, never=say("never"))
            print(say("resident.show.band", serial=band.serial, model=band.model or "-", seen=seen))
        for event in await bands.resident_band_history(session, resident_id=resident_id):
            line = say("resident.show.history", at=local(event.at), band_id=event.band_id, type=event.type)
            print(f"{line} {event.note}".rstrip())


@refusing_bad_input
async def add_contact(
    settings: Settings,
    *,
    resident_id: int,
    name: str,
    phone: str,
    relation: str,
    priority: int | None,
    language: str,
    has_key: bool,
) -> None:
    async with transaction(settings) as session:
        contact = await contacts.add_contact(
            session,
            SystemClock(),
            resident_id=resident_id,
            name=name,
            phone=phone,
            relation=relation,
            priority=priority,
            language=language,
            has_key=has_key,
        )
        print(say("contact.add.done", id=contact.id, priority=contact.priority, name=contact.name, phone=contact.phone))


@refusing_bad_input
async def list_contacts(settings: Settings, *, resident_id: int) -> None:
    async with transaction(settings) as session:
        await residents.get_resident(session, resident_id=resident_id)
        found = await contacts.list_contacts(session, resident_id=resident_id)
        for contact in found:
            key = say("contact.has_key") if contact.has_key else ""
            relation = contact.relation or "-"
            print(f"{contact.id:>6}  {contact.priority}. {contact.name} ({relation}) {contact.phone}{key}")
        if not found:
            print(say("contact.list.none"))


@refusing_bad_input
async def remove_contact(settings: Settings, *, contact_id: int) -> None:
    async with transaction(settings) as session:
        await contacts.remove_contact(session, contact_id=contact_id)
        print(say("contact.remove.done", id=contact_id))


async def export(settings: Settings, *, resident_id: int, output: str | None) -> int:
    """Everything held about the resident as JSON (RODO art. 15): to stdout, or to a file only its
    owner can read (it holds medical notes)."""
    from alarm_center import gdpr  # every model with it: only the commands that need it pay

    try:
        async with transaction(settings) as session:
            data = await gdpr.export_resident(session, SystemClock(), resident_id=resident_id)
    except RegistryError as exc:
        return refuse(exc)
    document = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(document)
        return 0
    try:
        await asyncio.to_thread(_write_private, Path(output), document)
    except OSError as exc:
        print(f"opaska: --output: {say('cannot_write', path=output, reason=exc.strerror or exc)}", file=sys.stderr)
        return BAD_INPUT
    print(say("resident.export.done", id=resident_id, path=output))
    return 0


def _write_private(path: Path, document: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(document)


async def _delete_recordings(settings: Settings, engine: AsyncEngine, resident_id: int) -> None:
    """The erased resident's call recordings, deleted at Twilio now when it is configured (else
    the engine's sweep deletes them; an erasure never waits on the telephone)."""
    from alarm_center.voice import recording

    # Imported here: the twilio library is slow to import, and only an erasure needs it.
    from alarm_center.voice.twilio_telephone import TwilioTelephone

    telephone = TwilioTelephone.from_settings(settings)
    if telephone is None:
        return
    try:
        await recording.delete_erased_recordings(
            make_session_factory(engine), telephone, SystemClock(), resident_id=resident_id
        )
    finally:
        await telephone.aclose()


async def erase(settings: Settings, *, resident_id: int, confirmed: bool) -> int:
    """Anonymise a resident who left (RODO art. 17); their alarms stay as anonymous statistics."""
    from alarm_center import gdpr  # every model with it: only the commands that need it pay

    if not confirmed:
        print(f"opaska: {say('resident.erase.confirm')}", file=sys.stderr)
        return BAD_INPUT
    engine = await open_database(settings, migrate=False)
    try:
        try:
            async with make_session_factory(engine)() as session, session.begin():
                await gdpr.erase_resident(session, SystemClock(), resident_id=resident_id)
        except RegistryError as exc:
            return refuse(exc)
        await _delete_recordings(settings, engine, resident_id)
        try:
            await gdpr.purge_residue(engine)
        except (sqlite3.Error, DBAPIError) as exc:
            # Erased in every table already; only old bytes on disk remain until the next compaction.
            print(
                f"opaska: {say('resident.erase.not_compacted', id=resident_id, error=type(exc).__name__)}",
                file=sys.stderr,
            )
            return FAILED
    finally:
        await engine.dispose()
    print(say("resident.erase.done", id=resident_id))
    return 0


@refusing_bad_input
async def add_municipality(settings: Settings, *, code: str, name: str) -> None:
    async with transaction(settings) as session:
        municipality = await municipalities.create_municipality(session, SystemClock(), code=code, name=name)
        print(say("municipality.add.done", code=municipality.code, name=municipality.name))


async def list_municipalities(settings: Settings, *, as_json: bool = False) -> int:
    async with transaction(settings) as session:
        found = await municipalities.list_municipalities(session)
    if as_json:
        print_json([{"id": m.id, "code": m.code, "name": m.name} for m in found])
        return 0
    for municipality in found:
        print(f"{municipality.code:<12} {municipality.name}")
    if not found:
        print(say("municipality.list.none"))
    return 0
