"""Migrations are tested: they build the schema the models describe, on SQLite and PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from opaska.db.migrate import pending_revisions
from opaska.db.models import Base
from simulator.lab.processes import REPO


@pytest.mark.asyncio
async def test_migrated_schema_matches_models(db_engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db_engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []
    assert await pending_revisions(db_engine) == []


@pytest.mark.asyncio
async def test_partial_unique_index_exists(db_engine: AsyncEngine) -> None:
    def indexes(connection: Connection) -> dict[str, dict[str, object]]:
        return {ix["name"]: dict(ix) for ix in inspect(connection).get_indexes("alarm") if ix["name"]}

    async with db_engine.connect() as connection:
        found = await connection.run_sync(indexes)
    index = found["uq_alarm_open_per_band_kind"]
    assert index["unique"]
    assert index["column_names"] == ["band_id", "kind", "is_test"]


def test_every_revision_id_fits_alembic_version() -> None:
    """PostgreSQL's alembic_version.version_num is VARCHAR(32): a longer id fails the migration there
    (SQLite does not check, so only this catches it under `make test`)."""
    script = ScriptDirectory.from_config(Config(str(REPO / "alembic.ini")))
    too_long = [r.revision for r in script.walk_revisions() if len(r.revision) > 32]
    assert too_long == []


def test_the_quick_head_read_from_the_scripts_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from opaska.db.head import script_heads
    from opaska.db.migrate import _alembic_config

    assert script_heads() == set(ScriptDirectory.from_config(_alembic_config()).get_heads())
