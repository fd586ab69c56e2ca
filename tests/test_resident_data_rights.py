"""RODO/GDPR: a resident's data exported as JSON; erased, nothing of their name or phone is left
in the database (the SQLite file's bytes; every text column on PostgreSQL), while their alarms
remain as anonymous statistics."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.intake import raise_or_merge
from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmKind
from alarm_center.notify.model import Notification
from core.clock import FakeClock
from registry import bands, contacts, municipalities, residents
from registry.model import Band, BandStatus, BandTestResult, Contact, Resident
from registry.traffic.messages import BandMessage
from tests.support.processes import run_opaska_command

pytestmark = pytest.mark.asyncio

FIRST, LAST = "Bożydar", "Wścibski"
PHONE_TYPED, PHONE = "609 876 543", "+48609876543"
RELATIVE, RELATIVE_PHONE = "Wiesława Wścibska", "+48605111222"
SECRETS = ("Bożydar", "Wścibski", "Wścibska", "609876543", "605111222", "Kasztanowa", "cukrzyca-typu-2-XYZ", "1234#")


async def _world(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> tuple[int, int, int]:
    """(resident id, their alarm id, another resident's id)."""
    async with sessions() as session, session.begin():
        municipality = await municipalities.create_municipality(
            session, clock, code=f"m-{uuid.uuid4().hex[:6]}", name="Gmina Testowa"
        )
        resident = await residents.create_resident(
            session,
            clock,
            municipality_id=municipality.id,
            first_name=FIRST,
            last_name=LAST,
            phone=PHONE_TYPED,
            address="ul. Kasztanowa 7, Oleśnica",
            medical_notes="cukrzyca-typu-2-XYZ",
            access_notes="kod do furtki 1234#",
        )
        resident.key_safe_code_encrypted = "gAAAAA-encrypted-code"
        other = await residents.create_resident(
            session, clock, municipality_id=municipality.id, first_name="Helena", last_name="Kowalska"
        )
        contact = await contacts.add_contact(
            session, clock, resident_id=resident.id, name=RELATIVE, phone="605 111 222", relation="córka"
        )
        band = (
            await bands.register_band(session, clock, serial=f"GD-{uuid.uuid4().hex[:6]}", resident_id=resident.id)
        ).band
        band.last_location = {"lat": 51.2, "lon": 17.4}
        message = BandMessage(
            band_id=band.id,
            message_id="m1",
            kind="sos",
            received_at=clock.now(),
            band_time=clock.now(),
            payload={"location": {"lat": 51.2, "lon": 17.4}, "note": "Kasztanowa"},
        )
        session.add(message)
        await session.flush()
        raised = await raise_or_merge(
            session,
            band=band,
            resident_municipality_id=municipality.id,
            kind=AlarmKind.SOS,
            band_message_id=message.id,
            received_at=clock.now(),
        )
        await session.execute(
            update(Alarm)
            .where(Alarm.id == raised.alarm_id)
            .values(note=f"{FIRST} upadł w łazience", status="resolved", outcome="help_sent", closed_at=clock.now())
        )
        session.add(
            AlarmEvent(
                alarm_id=raised.alarm_id,
                at=clock.now(),
                type="note",
                actor_type="staff",
                actor_id=None,
                detail={"note": f"dzwoniła {RELATIVE}", "via": "sms"},
            )
        )
        session.add(
            Notification(
                alarm_id=raised.alarm_id,
                contact_id=contact.id,
                channel="sms",
                to_phone=RELATIVE_PHONE,
                template="alert",
                body=f"ALARM SOS: {FIRST} {LAST}, ul. Kasztanowa 7. Odpowiedz TAK",
                status="delivered",
                attempts=1,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
        session.add(
            BandTestResult(
                band_id=band.id,
                alarm_id=None,
                resident_id=resident.id,
                kind="sos",
                pressed_at=clock.now(),
                received_at=clock.now(),
                latency_ms=120,
                passed=True,
                note="",
            )
        )
        return resident.id, raised.alarm_id, other.id


async def _leftovers_in_postgresql(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    found = []
    async with sessions() as session:
        columns = (
            await session.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
                    "AND data_type IN ('text', 'character varying', 'json', 'jsonb')"
                )
            )
        ).all()
        for table, column in columns:
            for secret in SECRETS:
                hits = (
                    await session.execute(
                        text(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE :pattern'),
                        {"pattern": f"%{secret}%"},
                    )
                ).scalar_one()
                if hits:
                    found.append(f"{table}.{column}: {secret}")
    return found


def _leftovers_in_sqlite(database_url: str) -> list[str]:
    path = Path(make_url(database_url).database or "")
    found = []
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            data = file.read_bytes()
            found += [f"{file.name}: {secret}" for secret in SECRETS if secret.encode() in data]
    return found


async def test_export_then_erase(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    resident_id, alarm_id, other_id = await _world(sessions, clock)
    is_sqlite = database_url.startswith("sqlite")

    target = tmp_path / "eksport.json"
    exported = await run_opaska_command(database_url, "resident", "export", str(resident_id), "--output", str(target))
    assert exported.returncode == 0, exported.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    data = json.loads(target.read_text(encoding="utf-8"))
    assert (data["resident"]["first_name"], data["resident"]["phone"]) == (FIRST, PHONE)
    assert data["resident"]["medical_notes"] == "cukrzyca-typu-2-XYZ"
    assert data["resident"]["key_safe_code_stored"] is True
    assert "key_safe_code_encrypted" not in data["resident"]
    assert [c["name"] for c in data["contacts"]] == [RELATIVE]
    assert [b["serial"] for b in data["bands"]] == [data["bands"][0]["serial"]]
    assert "secret_hash" not in data["bands"][0]
    assert [e["type"] for e in data["band_history"]] == ["bound"]
    [alarm] = data["alarms"]
    assert (alarm["id"], alarm["kind"], alarm["outcome"]) == (alarm_id, "sos", "help_sent")
    assert [e["type"] for e in alarm["events"]] == ["raised", "note"]
    assert alarm["notifications"][0]["to_phone"] == RELATIVE_PHONE
    assert data["installation_tests"][0]["latency_ms"] == 120
    if is_sqlite:
        assert _leftovers_in_sqlite(database_url)  # the check can fail: before erasure it finds them

    unconfirmed = await run_opaska_command(database_url, "resident", "erase", str(resident_id))
    assert unconfirmed.returncode == 2
    erased = await run_opaska_command(database_url, "resident", "erase", str(resident_id), "--yes")
    assert erased.returncode == 0, erased.stderr

    if is_sqlite:
        assert _leftovers_in_sqlite(database_url) == []
    else:
        assert await _leftovers_in_postgresql(sessions) == []
    async with sessions() as session:
        resident = (await session.execute(select(Resident).where(Resident.id == resident_id))).scalar_one()
        other = (await session.execute(select(Resident).where(Resident.id == other_id))).scalar_one()
        alarm_row = (await session.execute(select(Alarm).where(Alarm.id == alarm_id))).scalar_one()
        band = (await session.execute(select(Band))).scalar_one()
        left_contacts = (await session.execute(select(Contact))).scalars().all()
        notification = (await session.execute(select(Notification))).scalar_one()
        events = (await session.execute(select(AlarmEvent.detail).order_by(AlarmEvent.id))).scalars().all()
    assert (resident.first_name, resident.birth_date, resident.phone, resident.active) == (
        "Usunięty",
        None,
        None,
        False,
    )
    assert resident.key_safe_code_encrypted is None
    assert (other.first_name, other.last_name) == ("Helena", "Kowalska")
    # The anonymous statistics: kind, times, outcome, municipality.
    assert (alarm_row.kind, alarm_row.outcome, alarm_row.municipality_id, alarm_row.raised_at) == (
        "sos",
        "help_sent",
        resident.municipality_id,
        clock.now(),
    )
    assert (alarm_row.note, alarm_row.resident_id) == ("", resident_id)
    assert left_contacts == []
    assert (notification.to_phone, notification.body, notification.status) == ("", "", "delivered")
    assert events[-1] == {"via": "sms"}
    assert (band.status, band.resident_id, band.last_location) == (BandStatus.STOCK, None, None)
