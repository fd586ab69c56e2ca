"""`opaska resident|contact|band …` as a technician or coordinator runs them: bad input exits 2
with a message naming the field; credentials are printed once and stored only hashed."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from registry.credentials import verify_band_secret
from registry.model import Band, BandStatus, Contact, Resident
from tests.support.processes import run_opaska_command

pytestmark = pytest.mark.asyncio


def secret_in(stdout: str) -> str:
    found = re.search(r"^hasło MQTT: (\S+)$", stdout, re.MULTILINE)
    assert found, stdout
    return found.group(1)


async def test_resident_contact_and_band_from_the_command_line(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, database_url: str
) -> None:
    code = f"g{uuid.uuid4().hex[:6]}"
    made = await run_opaska_command(database_url, "municipality", "add", code, "--name", "Gmina Testowa")
    assert made.returncode == 0, made.stderr
    twice = await run_opaska_command(database_url, "municipality", "add", code, "--name", "Inna")
    assert twice.returncode == 2
    assert "już istnieje" in twice.stderr
    listed_places = await run_opaska_command(database_url, "municipality", "list")
    assert f"{code}" in listed_places.stdout

    added = await run_opaska_command(
        database_url,
        *("resident", "add", "--municipality", code, "--first-name", "Helena", "--last-name", "Kowalska"),
        *("--birth-date", "1941-03-02", "--phone", "71 123 45 67", "--address", "ul. Legnicka 12/4"),
    )
    assert added.returncode == 0, added.stderr
    resident_id = int(added.stdout.split()[1].rstrip(":"))

    bad_date = await run_opaska_command(
        database_url, "resident", "add", "--municipality", code, "--first-name", "A", "--last-name", "B",
        "--birth-date", "2.3.1941",
    )  # fmt: skip
    assert bad_date.returncode == 2
    assert "birth_date" in bad_date.stderr
    unknown_place = await run_opaska_command(
        database_url, "resident", "add", "--municipality", "nowhere", "--first-name", "A", "--last-name", "B"
    )
    assert unknown_place.returncode == 2
    assert "nie ma gminy o kodzie 'nowhere'" in unknown_place.stderr

    contact = await run_opaska_command(
        database_url, "contact", "add", str(resident_id), "--name", "Anna Kowalska", "--phone", "601 234 567",
        "--relation", "córka", "--has-key",
    )  # fmt: skip
    assert contact.returncode == 0, contact.stderr
    bad_phone = await run_opaska_command(
        database_url, "contact", "add", str(resident_id), "--name", "X", "--phone", "12345"
    )
    assert bad_phone.returncode == 2
    assert bad_phone.stderr.strip().splitlines()[-1].startswith("opaska: phone: nieprawidłowy numer telefonu '12345'")

    bad_imei = await run_opaska_command(database_url, "band", "register", "--imei", "490154203237519")
    assert bad_imei.returncode == 2
    assert "opaska: imei: błędna cyfra kontrolna IMEI" in bad_imei.stderr

    registered = await run_opaska_command(
        database_url, "band", "register", "--imei", "490154203237518", "--model", "GT-300"
    )
    assert registered.returncode == 0, registered.stderr
    secret = secret_in(registered.stdout)
    twice = await run_opaska_command(database_url, "band", "register", "--serial", "490154203237518")
    assert twice.returncode == 2
    assert "już zarejestrowana" in twice.stderr

    bound = await run_opaska_command(database_url, "band", "bind", "490154203237518", "--resident", str(resident_id))
    assert bound.returncode == 0, bound.stderr

    reissued = await run_opaska_command(database_url, "band", "reissue", "490154203237518")
    assert reissued.returncode == 0, reissued.stderr
    new_secret = secret_in(reissued.stdout)

    shown = await run_opaska_command(database_url, "resident", "show", str(resident_id))
    assert shown.returncode == 0, shown.stderr
    assert "1. Anna Kowalska (córka) +48601234567 [pl], ma klucz" in shown.stdout
    assert "opaska 490154203237518 (GT-300)" in shown.stdout
    listed = await run_opaska_command(database_url, "resident", "list", "--municipality", code)
    assert "Kowalska Helena, ul. Legnicka 12/4" in listed.stdout
    contacts = await run_opaska_command(database_url, "contact", "list", str(resident_id))
    assert "Anna Kowalska" in contacts.stdout

    async with sessions() as session:
        band = (await session.execute(select(Band))).scalar_one()
        resident = (await session.execute(select(Resident))).scalar_one()
        contact_row = (await session.execute(select(Contact))).scalar_one()
    assert (band.status, band.resident_id, band.model) == (BandStatus.ACTIVE, resident_id, "GT-300")
    assert band.secret_hash is not None
    assert verify_band_secret(new_secret, band.secret_hash)
    assert not verify_band_secret(secret, band.secret_hash)
    assert (resident.phone, str(resident.birth_date)) == ("+48711234567", "1941-03-02")
    assert (contact_row.phone, contact_row.has_key) == ("+48601234567", True)

    removed = await run_opaska_command(database_url, "contact", "remove", str(contact_row.id))
    assert removed.returncode == 0, removed.stderr
    revoked = await run_opaska_command(database_url, "band", "revoke", "490154203237518")
    assert revoked.returncode == 0, revoked.stderr
    decommissioned = await run_opaska_command(database_url, "band", "decommission", "490154203237518")
    assert decommissioned.returncode == 0, decommissioned.stderr
    again = await run_opaska_command(database_url, "band", "reissue", "490154203237518")
    assert again.returncode == 2
    assert "wycofana z użytku" in again.stderr
    async with sessions() as session:
        band = (await session.execute(select(Band))).scalar_one()
    assert (band.status, band.secret_hash) == (BandStatus.RETIRED, None)


async def test_listings_as_json_for_scripts(database_url: str) -> None:
    code = f"j{uuid.uuid4().hex[:6]}"
    assert (
        await run_opaska_command(database_url, "municipality", "add", code, "--name", "Gmina Łąkowa")
    ).returncode == 0
    added = await run_opaska_command(
        database_url, "resident", "add", "--municipality", code, "--first-name", "Zofia", "--last-name", "Źródło"
    )
    assert added.returncode == 0, added.stderr

    places = await run_opaska_command(database_url, "municipality", "list", "--json")
    assert places.returncode == 0, places.stderr
    [place] = [p for p in json.loads(places.stdout) if p["code"] == code]
    assert place["name"] == "Gmina Łąkowa"  # the letters as they are, not \\u escapes
    assert "Gmina Łąkowa" in places.stdout

    people = await run_opaska_command(database_url, "resident", "list", "--municipality", code, "--json")
    assert [(p["first_name"], p["last_name"], p["active"]) for p in json.loads(people.stdout)] == [
        ("Zofia", "Źródło", True)
    ]
    # The table for people, the JSON for scripts: nothing else on standard output (no log lines).
    assert json.loads(people.stdout)
    assert people.stderr == ""
