"""Databases for tests: migrated once with Alembic into a template, then one fresh copy per test.

Several processes write in the end-to-end tests, so a rolled-back transaction per test would not
see their work: each test gets a database of its own instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db.engine import make_engine
from opaska.db.migrate import upgrade_to_head

TEST_DATABASE_URL = os.environ.get("OPASKA_TEST_DATABASE_URL", "")


@dataclass
class Template:
    kind: str  # "sqlite" or "postgresql"
    location: str  # a file path, or the template database's name
    admin_url: str = ""


async def _run_sql(url: str, *statements: str) -> None:
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def create_template(workdir: Path) -> Template:
    if TEST_DATABASE_URL:
        url = make_url(TEST_DATABASE_URL)
        if url.get_backend_name() != "postgresql":
            raise RuntimeError("OPASKA_TEST_DATABASE_URL must be a postgresql+asyncpg:// URL")
        name = f"opaska_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = url.render_as_string(hide_password=False)
        asyncio.run(_run_sql(admin, f'CREATE DATABASE "{name}"'))
        asyncio.run(_migrate(url.set(database=name).render_as_string(hide_password=False)))
        return Template("postgresql", name, admin)
    path = workdir / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return Template("sqlite", str(path))


def drop_template(template: Template) -> None:
    if template.kind == "postgresql":
        asyncio.run(_run_sql(template.admin_url, f'DROP DATABASE IF EXISTS "{template.location}" WITH (FORCE)'))


async def fresh_database(template: Template, workdir: Path) -> str:
    """A new database with the migrated schema; returns its URL."""
    if template.kind == "postgresql":
        name = f"opaska_t_{uuid.uuid4().hex[:12]}"
        await _run_sql(template.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template.location}"')
        return make_url(template.admin_url).set(database=name).render_as_string(hide_password=False)
    path = workdir / f"opaska-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template.location, path)
    return f"sqlite+aiosqlite:///{path}"


async def drop_database(template: Template, url: str) -> None:
    if template.kind == "postgresql":
        name = make_url(url).database
        await _run_sql(template.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
