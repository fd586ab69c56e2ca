"""What the registry's command-line commands share: a database session, and bad input → exit 2.

The registry's refusals (RegistryError) are worded in Polish by the registry itself and printed as
they are, in either language of the command line."""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, ParamSpec

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.engine import make_session_factory
from core.settings import Settings
from opaska.exits import BAD_INPUT
from opaska.messages import say
from opaska.startup import open_database
from registry.errors import NotFound, RegistryError
from registry.model import StaffUser

P = ParamSpec("P")


@asynccontextmanager
async def reading(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One session for reading: nothing is committed."""
    engine = await open_database(settings, migrate=False)
    try:
        async with make_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


@asynccontextmanager
async def transaction(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One session in one transaction, committed when the block ends without an exception."""
    async with reading(settings) as session, session.begin():
        yield session


def refuse(error: RegistryError) -> int:
    """Print a registry error as `opaska: field: message` and return the bad-input exit code."""
    print(f"opaska: {error.field}: {error.message}", file=sys.stderr)
    return BAD_INPUT


def refusing_bad_input(command: Callable[P, Awaitable[None]]) -> Callable[P, Coroutine[Any, Any, int]]:
    """A command that exits 0 once done, or tells the registry's refusal (a RegistryError) and exits 2."""

    @functools.wraps(command)
    async def run(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            await command(*args, **kwargs)
        except RegistryError as exc:
            return refuse(exc)
        return 0

    return run


async def staff_id(session: AsyncSession, username: str | None) -> int | None:
    """The staff member a technician names with --by (their console username)."""
    if not username:
        return None
    found = (await session.execute(select(StaffUser.id).where(StaffUser.username == username))).scalar_one_or_none()
    if found is None:
        raise NotFound(field="by", message=say("user.unknown_by", username=username))
    return found
