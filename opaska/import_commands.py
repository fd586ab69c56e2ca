"""`opaska import FILE [--dry-run]`: residents, contacts and bands from a MOPS spreadsheet (CSV)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.clock import SystemClock
from core.settings import Settings
from opaska.exits import BAD_INPUT
from opaska.messages import say
from opaska.registry_cli import refuse, staff_id, transaction
from registry.csv_import import import_csv
from registry.errors import RegistryError


async def run_import(settings: Settings, *, path: str, dry_run: bool, by: str | None) -> int:
    try:
        data = await asyncio.to_thread(Path(path).read_bytes)
    except OSError as exc:
        print(f"opaska: {say('cannot_read', path=path, reason=exc.strerror or exc)}", file=sys.stderr)
        return BAD_INPUT
    try:
        async with transaction(settings) as session:
            report = await import_csv(
                session, SystemClock(), data=data, dry_run=dry_run, staff_id=await staff_id(session, by)
            )
    except RegistryError as exc:
        return refuse(exc)
    separator = say("import.semicolon" if report.separator == ";" else "import.comma")
    print(say("import.file", path=path, encoding=report.encoding, separator=separator, rows=report.rows))
    if not report.ok:
        for problem in report.problems:
            print(f"  {problem}")
        print(say("import.problems", count=len(report.problems)), file=sys.stderr)
        return BAD_INPUT
    if dry_run:
        print(say("import.dry_run_ok"))
        return 0
    print(say("import.done", residents=report.residents, contacts=report.contacts, bands=report.bands))
    return 0
