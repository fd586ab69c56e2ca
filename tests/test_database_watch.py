"""The console's view of the database: one slow probe is not an outage, two in a row are."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.health import OK, DatabaseWatch

pytestmark = pytest.mark.asyncio

SLOW = "unreachable: no answer within 2 s"


async def _states_after(watch: DatabaseWatch, answers: list[str]) -> list[str]:
    """The watch's state after each of these probe answers, in turn."""
    pending = list(answers)
    states: list[str] = []
    finished = asyncio.Event()

    async def probe() -> str:
        if len(pending) < len(answers):
            states.append(watch.state)  # what the previous answer left
        if not pending:
            finished.set()
            await asyncio.Event().wait()
        return pending.pop(0)

    watch._check = probe  # type: ignore[method-assign]
    task = asyncio.create_task(watch.run())
    await asyncio.wait_for(finished.wait(), timeout=5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return states


async def test_one_slow_probe_is_not_an_outage_two_are(sessions: async_sessionmaker[AsyncSession]) -> None:
    watch = DatabaseWatch(sessions, every_s=0)
    assert await _states_after(watch, [OK, SLOW, OK, SLOW, SLOW, OK]) == [OK, OK, OK, OK, SLOW, OK]
