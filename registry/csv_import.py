"""Import residents, their contacts and bands from the spreadsheet a MOPS keeps (CSV).

One row per resident; columns and rules are in docs/registry-import.md. Every row is checked
before anything is written, and every problem is reported by row and column, in Polish. The
import is all-or-nothing: with any problem nothing is written, and the rows are written in the
caller's one transaction (a failure half-way rolls all of it back).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry import action_plans, bands, contacts, residents
from registry.action_plans import StepInput
from registry.csv_file import MAX_BYTES, ImportReport, Problem, ResidentRow, parse
from registry.model import Band, Municipality, Resident

# The file's reading lives in `csv_file`; its names stay importable from here for callers.
__all__ = ["MAX_BYTES", "ImportReport", "Problem", "ResidentRow", "import_csv", "parse"]


async def _database_problems(session: AsyncSession, rows: list[ResidentRow], problems: list[Problem]) -> None:
    known = {
        key.lower(): municipality_id
        for municipality_id, code, name in await session.execute(
            select(Municipality.id, Municipality.code, Municipality.name)
        )
        for key in (code, name)
    }
    for row in rows:
        if not row.municipality:
            continue
        row.municipality_id = known.get(row.municipality.lower())
        if row.municipality_id is None:
            problems.append(Problem(row.row, "gmina", f"nieznana gmina {row.municipality!r} (podaj kod lub nazwę)"))
    identifiers = {value for row in rows for value in (row.band_serial, row.band_imei) if value}
    if identifiers:
        taken = {
            value
            for serial, imei in await session.execute(
                select(Band.serial, Band.imei).where((Band.serial.in_(identifiers)) | (Band.imei.in_(identifiers)))
            )
            for value in (serial, imei)
            if value
        }
        for row in rows:
            for column, value in (("opaska_numer", row.band_serial), ("opaska_imei", row.band_imei)):
                if value in taken:
                    problems.append(Problem(row.row, column, f"opaska {value} jest już zarejestrowana"))
    people = [
        (row.municipality_id, row.first_name.lower(), row.last_name.lower())
        for row in rows
        if row.municipality_id is not None
    ]
    if people:
        # Compared in Python: SQLite's lower() folds only ASCII, so "Łucja" would never match "łucja".
        existing = {
            (municipality_id, first.lower(), last.lower(), born)
            for municipality_id, first, last, born in await session.execute(
                select(Resident.municipality_id, Resident.first_name, Resident.last_name, Resident.birth_date).where(
                    Resident.municipality_id.in_({municipality_id for municipality_id, _, _ in people})
                )
            )
        }
        for row in rows:
            key = (row.municipality_id, row.first_name.lower(), row.last_name.lower(), row.birth_date)
            if key in existing:
                problems.append(Problem(row.row, "nazwisko", "ten mieszkaniec jest już w rejestrze"))


def _out_of_scope(rows: list[ResidentRow], municipality_ids: Collection[int]) -> list[Problem]:
    """Rows naming a known municipality the importer is not assigned to."""
    return [
        Problem(row.row, "gmina", f"gmina {row.municipality!r} nie jest przypisana do Ciebie")
        for row in rows
        if row.municipality_id is not None and row.municipality_id not in municipality_ids
    ]


async def import_csv(
    session: AsyncSession,
    clock: Clock,
    *,
    data: bytes,
    dry_run: bool,
    staff_id: int | None = None,
    municipality_ids: Collection[int] | None = None,
) -> ImportReport:
    """Check the file; unless `dry_run` and when there is no problem at all, write every row in
    the caller's transaction. Bands are registered without credentials: a technician issues them
    at installation (`opaska band reissue`), so no secret ends up in an import report. With
    `municipality_ids` (the importer's), a row of any other municipality is a problem."""
    report, rows = parse(data, today=clock.now().date())
    report.dry_run = dry_run
    if rows:
        await _database_problems(session, rows, report.problems)
        if municipality_ids is not None:
            report.problems += _out_of_scope(rows, municipality_ids)
    report.problems.sort(key=lambda problem: (problem.row, problem.column))
    if dry_run or not report.ok:
        return report
    for row in rows:
        assert row.municipality_id is not None
        resident = await residents.create_resident(
            session,
            clock,
            municipality_id=row.municipality_id,
            first_name=row.first_name,
            last_name=row.last_name,
            birth_date=row.birth_date,
            sex=row.sex,
            address=row.address,
            phone=row.phone,
            language=row.language,
            access_notes=row.access_notes,
        )
        report.residents += 1
        contact_ids: dict[int, int] = {}
        for contact in row.contacts:
            added = await contacts.add_contact(
                session,
                clock,
                resident_id=resident.id,
                name=contact.name,
                phone=contact.phone,
                relation=contact.relation,
                has_key=contact.has_key,
                language=contact.language,
            )
            contact_ids[contact.number] = added.id
            report.contacts += 1
        if row.plan:
            steps = [
                StepInput(kind, contact_ids[number] if number is not None else None, text)
                for kind, number, text in row.plan
            ]
            await action_plans.set_resident_plan(session, clock, resident_id=resident.id, steps=steps)
        if row.band_serial or row.band_imei:
            await bands.register_band_without_credentials(
                session,
                clock,
                serial=row.band_serial,
                imei=row.band_imei,
                model=row.band_model,
                resident_id=resident.id,
                staff_id=staff_id,
            )
            report.bands += 1
    report.written = True
    return report
