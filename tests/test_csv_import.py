"""CSV import of residents, contacts and bands: UTF-8 (with or without BOM) or Windows-1250, ';' or
','; a dry run reports every problem by row and column in Polish; the import is all-or-nothing."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from registry import action_plans, municipalities
from registry.csv_import import ImportReport, import_csv
from registry.model import Band, BandStatus, Contact, Resident
from simulator.lab.processes import REPO
from tests.support.processes import run_opaska_command

pytestmark = pytest.mark.asyncio

EXAMPLE = REPO / "docs" / "examples" / "mieszkancy.csv"
HEADER = (
    "gmina;imie;nazwisko;data_urodzenia;telefon;kontakt1_imie_nazwisko;kontakt1_telefon;kontakt1_klucz;"
    "opaska_numer;opaska_imei"
)


async def _wroclaw(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    async with sessions() as session, session.begin():
        await municipalities.create_municipality(session, clock, code="0264011", name="Wrocław")


async def _import(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, data: bytes, *, dry_run: bool
) -> ImportReport:
    async with sessions() as session, session.begin():
        return await import_csv(session, clock, data=data, dry_run=dry_run)


async def _counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with sessions() as session:
        counts = [
            (await session.execute(select(func.count()).select_from(model))).scalar_one()
            for model in (Resident, Contact, Band)
        ]
    return counts[0], counts[1], counts[2]


async def test_the_example_file_dry_run_then_import(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _wroclaw(sessions, clock)
    data = EXAMPLE.read_bytes()
    checked = await _import(sessions, clock, data, dry_run=True)
    assert checked.problems == []
    assert (checked.encoding, checked.separator, checked.rows, checked.written) == ("UTF-8 (z BOM)", ";", 2, False)
    assert await _counts(sessions) == (0, 0, 0)

    report = await _import(sessions, clock, data, dry_run=False)
    assert (report.written, report.residents, report.contacts, report.bands) == (True, 2, 3, 2)
    async with sessions() as session:
        helena = (await session.execute(select(Resident).where(Resident.first_name == "Helena"))).scalar_one()
        contacts = (
            (await session.execute(select(Contact).where(Contact.resident_id == helena.id).order_by(Contact.priority)))
            .scalars()
            .all()
        )
        by_imei = (await session.execute(select(Band).where(Band.imei == "490154203237518"))).scalar_one()
        jozef = (await session.execute(select(Resident).where(Resident.last_name == "Żółkiewski"))).scalar_one()
    assert (str(helena.birth_date), helena.phone, helena.access_notes) == (
        "1941-03-02",
        "+48711234567",
        "klucz u sąsiadki spod 5",
    )
    assert [(c.name, c.phone, c.relation, c.has_key) for c in contacts] == [
        ("Anna Kowalska", "+48601234567", "córka", True),
        ("Piotr Nowak", "+48602345678", "sąsiad", False),
    ]
    assert (by_imei.serial, by_imei.resident_id, by_imei.status, by_imei.secret_hash) == (
        "490154203237518",
        jozef.id,
        BandStatus.ACTIVE,
        None,
    )

    again = await _import(sessions, clock, data, dry_run=False)
    assert not again.written
    assert {(p.row, p.column, p.message) for p in again.problems} >= {
        (2, "opaska_numer", "opaska OP-2026-000101 jest już zarejestrowana"),
        (3, "opaska_imei", "opaska 490154203237518 jest już zarejestrowana"),
        (2, "nazwisko", "ten mieszkaniec jest już w rejestrze"),
    }
    assert await _counts(sessions) == (2, 3, 2)


async def test_windows_1250_with_commas(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    await _wroclaw(sessions, clock)
    # As Excel saves "CSV (rozdzielany przecinkami)": addresses with commas are quoted.
    rows = list(csv.reader(io.StringIO(EXAMPLE.read_text(encoding="utf-8-sig")), delimiter=";"))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=",", lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode("cp1250")
    report = await _import(sessions, clock, data, dry_run=False)
    assert report.problems == []
    assert (report.encoding, report.separator, report.residents) == ("Windows-1250", ",", 2)
    async with sessions() as session:
        names = set((await session.execute(select(Resident.last_name))).scalars())
        assert names == {"Kowalska", "Żółkiewski"}
        notes = (await session.execute(select(Resident.access_notes).where(Resident.first_name == "Helena"))).scalar()
        assert notes == "klucz u sąsiadki spod 5"


BROKEN_ROWS = [
    "Wrocław;Jan;Nowak;1950-01-01;601234567;Ewa Nowak;601 234 568;tak;OP-1;",
    "Wrocław;Ewa;;31.02.1940;12;Adam Kot;12;może;OP-1;",
    "Wroclaw;Adam;Kot;;;;;;;490154203237519",
    "Wrocław;Ola;Lis;2040-01-01;;;602345678;;;4901542032375",
    "Wrocław;Jan;Nowak;1950-01-01;;;;;OP-2;",
    "Wrocław;Za;Dużo;;;;;;;;nadmiarowe pole",
]


@pytest.mark.parametrize("encoding", ["utf-8", "cp1250"])
async def test_a_broken_file_reports_every_problem_and_writes_nothing(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, encoding: str
) -> None:
    await _wroclaw(sessions, clock)
    data = "\r\n".join([HEADER, *BROKEN_ROWS, ""]).encode(encoding)
    report = await _import(sessions, clock, data, dry_run=False)
    assert report.encoding == ("UTF-8" if encoding == "utf-8" else "Windows-1250")
    assert not report.written
    found = {(p.row, p.column): p.message for p in report.problems}
    assert found[(3, "nazwisko")] == "pole wymagane jest puste"
    assert "nieprawidłowa data '31.02.1940'" in found[(3, "data_urodzenia")]
    assert "nieprawidłowy numer telefonu '12'" in found[(3, "telefon")]
    assert "nieprawidłowy numer telefonu '12'" in found[(3, "kontakt1_telefon")]
    assert "wpisz tak lub nie" in found[(3, "kontakt1_klucz")]
    assert found[(3, "opaska_numer")] == "opaska OP-1 powtórzona w pliku (wiersz 2)"
    assert found[(4, "gmina")] == "nieznana gmina 'Wroclaw' (podaj kod lub nazwę)"
    assert "błędna cyfra kontrolna IMEI" in found[(4, "opaska_imei")]
    assert "data urodzenia spoza zakresu" in found[(5, "data_urodzenia")]
    assert found[(5, "kontakt1_imie_nazwisko")] == "pole wymagane jest puste"
    assert found[(5, "opaska_imei")] == "IMEI ma 15 cyfr, podano 13"
    assert found[(6, "nazwisko")] == "ten sam mieszkaniec co w wierszu 2"
    assert "11 pól, a nagłówek ma 10 kolumn" in found[(7, "")]
    assert len(report.problems) == 13
    assert await _counts(sessions) == (0, 0, 0)


async def test_missing_and_unknown_columns(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    report = await _import(sessions, clock, b"gmina;imie;nazwsko;kontakt1_tel\nW;A;B;1\n", dry_run=True)
    assert [(p.row, p.column, p.message.split(" (")[0]) for p in report.problems] == [
        (1, "kontakt1_tel", "nieznana kolumna"),
        (1, "nazwisko", "brak wymaganej kolumny"),
        (1, "nazwsko", "nieznana kolumna"),
    ]


async def test_import_from_the_command_line(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    code = f"g{uuid.uuid4().hex[:6]}"
    async with sessions() as session, session.begin():
        await municipalities.create_municipality(session, clock, code=code, name="Gmina Testowa")
    good = tmp_path / "dobry.csv"
    good.write_bytes(f"gmina;imie;nazwisko\n{code};Anna;Lis\n".encode("cp1250"))
    bad = tmp_path / "zly.csv"
    bad.write_bytes(f"gmina;imie;nazwisko;telefon\n{code};Anna;Lis;12\n".encode())

    checked = await run_opaska_command(database_url, "import", str(bad), "--dry-run")
    assert checked.returncode == 2
    assert "wiersz 2, kolumna telefon: nieprawidłowy numer telefonu '12'" in checked.stdout
    refused = await run_opaska_command(database_url, "import", str(bad))
    assert refused.returncode == 2
    assert "nic nie zostało zapisane" in refused.stderr
    dry = await run_opaska_command(database_url, "import", str(good), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "kodowanie UTF-8, separator średnik (;), wierszy z danymi: 1" in dry.stdout
    assert await _counts(sessions) == (0, 0, 0)
    done = await run_opaska_command(database_url, "import", str(good))
    assert done.returncode == 0, done.stderr
    assert "zapisano: mieszkańców 1, kontaktów 0, opasek 0" in done.stdout
    assert await _counts(sessions) == (1, 0, 0)


async def test_the_action_plan_columns(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    await _wroclaw(sessions, clock)
    header = (
        "gmina;imie;nazwisko;kontakt1_imie_nazwisko;kontakt1_telefon;kontakt2_imie_nazwisko;kontakt2_telefon;"
        "plan_krok1;plan_krok2;plan_krok3;plan_krok4"
    )
    row = "Wrocław;Jan;Lis;Ewa Lis;601 234 567;Adam Lis;601 234 568;mieszkaniec;kontakt2;Klucz u sąsiadki spod 5;112"
    good = f"{header}\n{row}\n"
    report = await _import(sessions, clock, good.encode(), dry_run=False)
    assert report.problems == []
    assert report.written
    async with sessions() as session:
        resident = (await session.execute(select(Resident).where(Resident.last_name == "Lis"))).scalar_one()
        plan = await action_plans.resident_plan(session, resident.id)
        adam = (await session.execute(select(Contact).where(Contact.name == "Adam Lis"))).scalar_one()
    assert [(s.position, s.kind, s.contact_id, s.text) for s in plan] == [
        (1, "call_resident", None, ""),
        (2, "call_contact", adam.id, ""),
        (3, "instruction", None, "Klucz u sąsiadki spod 5"),
        (4, "emergency", None, ""),
    ]

    bad = f"{header}\nWrocław;Ola;Sowa;Ewa Sowa;601 234 567;;;mieszkaniec;kontakt3;;\n"
    report = await _import(sessions, clock, bad.encode(), dry_run=True)
    assert [str(p) for p in report.problems] == [
        "wiersz 2, kolumna plan_krok2: w wierszu nie ma kontaktu 3 (kolumny kontakt3_…)"
    ]
