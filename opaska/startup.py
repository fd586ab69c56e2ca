"""Opening the database at start: connect, check the schema, migrate if asked. One clear line on failure."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db.engine import make_engine
from core.settings import Settings
from core.startup import StartupError, redacted
from opaska.db.head import schema_is_current
from opaska.messages import say


async def open_database(settings: Settings, *, migrate: bool) -> AsyncEngine:
    """Connect and check the schema; with migrate, bring it to the newest revision first."""
    url = settings.database.url
    if settings.database.is_sqlite:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        await engine.dispose()
        reason = str(getattr(exc, "orig", exc) or type(exc).__name__).splitlines()[0]
        raise StartupError(say("database.unreachable", url=redacted(url), reason=reason)) from None
    if migrate:
        from opaska.db.migrate import upgrade_to_head

        await upgrade_to_head(engine)
    elif await schema_is_current(engine):
        return engine
    elif pending := await _pending_revisions(engine):
        await engine.dispose()
        raise StartupError(say("database.not_migrated", url=redacted(url), pending=len(pending)))
    return engine


async def _pending_revisions(engine: AsyncEngine) -> list[str]:
    # Alembic only when the quick check could not say the schema is current: it loads every script.
    from opaska.db.migrate import pending_revisions

    return await pending_revisions(engine)
