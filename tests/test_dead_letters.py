"""The dead-letter table: bounded to the newest rows, and readable by technicians over the API."""

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from registry.traffic.dead_letters import DeadLetter, DeadLetterEntry, keep_dead_letters
from simulator.lab.staff import create_staff, log_in

pytestmark = pytest.mark.asyncio


def _entry(clock: FakeClock, n: int, band: str) -> DeadLetterEntry:
    return DeadLetterEntry(
        received_at=clock.now() + timedelta(seconds=n),
        topic=f"opaska/v1/bands/{band}/up/heartbeat",
        payload=b'{"battery": "full"}\x00' + b"x" * 3000,
        reason="invalid",
        detail=f"battery: not an integer ({n})",
        band=band,
        kind="heartbeat",
    )


async def test_only_the_newest_rows_are_kept(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    for start in range(0, 250, 50):
        async with sessions() as session, session.begin():
            await keep_dead_letters(session, [_entry(clock, n, "B-1") for n in range(start, start + 50)], keep=100)
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(DeadLetter))).scalar_one() == 100
        oldest = (await session.execute(select(DeadLetter).order_by(DeadLetter.id).limit(1))).scalar_one()
    assert oldest.detail.endswith("(150)")
    assert len(oldest.payload) == 1024
    assert "\x00" not in oldest.payload


async def test_technicians_read_rejects_by_band(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    async with sessions() as session, session.begin():
        await keep_dead_letters(
            session, [_entry(clock, 1, "B-1"), _entry(clock, 2, "B-2"), _entry(clock, 3, "B-1")], keep=100
        )
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False))
    # An administrator: the bands B-1 and B-2 are registered nowhere, so no municipality owns them.
    admin = await create_staff(sessions, clock, role="administrator")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        await log_in(http, admin)
        rows = (await http.get("/api/band-rejects", params={"band": "B-1"})).json()
        assert [row["detail"][-3:] for row in rows] == ["(3)", "(1)"]
        assert rows[0]["reason"] == "invalid"
        assert rows[0]["payload"].startswith('{"battery": "full"}')
        assert len((await http.get("/api/band-rejects", params={"limit": 2})).json()) == 2
        refused = await http.get("/api/band-rejects", params={"limit": 0})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["query", "limit"]
        # A NUL in the serial is bad input (PostgreSQL text cannot hold it), not a server error.
        nul = await http.get("/api/band-rejects", params={"band": "B-\x00"})
        assert nul.status_code == 422
        assert nul.json()["detail"][0]["loc"] == ["query", "band"]
