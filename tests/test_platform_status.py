"""The supervisor hears about the platform itself: no gateway hearing bands, a deaf gateway, stuck escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.escalation.auditor import record_audit
from alarm_center.supervision.platform_status import platform_problems
from core.clock import FakeClock
from gateway.liveness import CANARY_PREFIX, GATEWAY_PREFIX, record_state

pytestmark = pytest.mark.asyncio


async def problems(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> dict[str, str]:
    async with sessions() as session:
        return {p.kind: p.message for p in await platform_problems(session, now=clock.now())}


async def test_what_the_supervisor_is_told(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    now = clock.now()
    assert await problems(sessions, clock) == {}  # a console with no gateway ever: nothing to say

    async with sessions() as session, session.begin():
        # A row of an earlier client id, long gone, beside the live gateway: not a problem.
        gone = now - timedelta(days=2)
        await record_state(session, name=GATEWAY_PREFIX + "opaska-gateway", connected_since=None, now=gone)
        await record_state(session, name=GATEWAY_PREFIX + "opaska:gateway", connected_since=now, now=now)
        await record_state(session, name=CANARY_PREFIX + "opaska:gateway", connected_since=None, now=now)
    assert await problems(sessions, clock) == {}

    async with sessions() as session, session.begin():
        await record_state(session, name=CANARY_PREFIX + "opaska:gateway", connected_since=now, now=now)
        await record_audit(session, stuck_since=now - timedelta(minutes=3), now=now)
    found = await problems(sessions, clock)
    assert set(found) == {"gateway_deaf", "escalation_stuck"}
    assert "opaska:gateway" in found["gateway_deaf"]

    # The gateway process is gone: its rows stop being written.
    clock.advance(120)
    assert "gateway_down" in await problems(sessions, clock)
