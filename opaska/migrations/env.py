"""Alembic environment.

Migrations run on a connection handed in through `config.attributes["connection"]` (see
opaska.db.migrate), so they work inside a running event loop. From the `alembic` command line,
with no connection given, the database comes from opaska's settings.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from opaska.db.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    from core.db.engine import make_engine
    from core.settings import load_settings

    engine = make_engine(load_settings().database.url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


given = context.config.attributes.get("connection")
if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `opaska migrate`")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_from_settings())
