"""`opaska import FILE [--dry-run]`: residents, contacts and bands from a MOPS spreadsheet (CSV)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.clock import SystemClock
from core.settings import Settings
from opaska.registry_cli import BAD_INPUT, refuse, staff_id, transaction
from registry.csv_import import import_csv
from registry.errors import RegistryError


async def run_import(settings: Settings, *, path: str, dry_run: bool, by: str | None) -> int:
    try:
        data = await asyncio.to_thread(Path(path).read_bytes)
    except OSError as exc:
        print(f"opaska: {path}: nie można odczytać pliku: {exc.strerror or exc}", file=sys.stderr)
        return BAD_INPUT
    try:
        async with transaction(settings) as session:
            report = await import_csv(
                session, SystemClock(), data=data, dry_run=dry_run, staff_id=await staff_id(session, by)
            )
    except RegistryError as exc:
        return refuse(exc)
    separator = "średnik (;)" if report.separator == ";" else "przecinek (,)"
    print(f"{path}: kodowanie {report.encoding}, separator {separator}, wierszy z danymi: {report.rows}")
    if not report.ok:
        for problem in report.problems:
            print(f"  {problem}")
        print(f"{len(report.problems)} problem(ów); nic nie zostało zapisane", file=sys.stderr)
        return BAD_INPUT
    if dry_run:
        print("brak problemów; aby zapisać, uruchom bez --dry-run")
        return 0
    print(
        f"zapisano: mieszkańców {report.residents}, kontaktów {report.contacts}, opasek {report.bands} "
        "(opaski bez danych logowania: wydaj je przy instalacji, opaska band reissue NUMER)"
    )
    return 0
