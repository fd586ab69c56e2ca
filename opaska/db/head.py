"""Is the schema current? Answered without Alembic for the common case.

Loading Alembic and every migration script costs a command-line tool about a third of a second;
reading the scripts' `revision` lines as text and the database's `alembic_version` row costs a
few milliseconds. Only when the two disagree does `opaska.db.migrate.pending_revisions` load
Alembic, to say exactly what is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS_DIR = Path(__file__).resolve().parent.parent / "migrations" / "versions"
_REVISION = re.compile(r"""^revision(?:: str)? = ["']([^"']+)["']""", re.MULTILINE)
_DOWN = re.compile(r"""^down_revision(?:: [^=]+)? = ["']([^"']+)["']""", re.MULTILINE)


def script_heads(directory: Path = VERSIONS_DIR) -> set[str]:
    """The revisions no script names as its down_revision, read from the scripts as text."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in directory.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(source))
        parents.update(_DOWN.findall(source))
    return revisions - parents


async def schema_is_current(engine: AsyncEngine) -> bool:
    """True when the database is at the scripts' one head; False when unsure (ask Alembic)."""
    heads = script_heads()
    if len(heads) != 1:
        return False
    try:
        async with engine.connect() as connection:
            applied = set((await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    except SQLAlchemyError:
        return False
    return applied == heads
