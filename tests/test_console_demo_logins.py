"""`opaska run --demo` gives one login per role, with fresh passwords at every start."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from opaska.demo import seed_demo

pytestmark = pytest.mark.asyncio


async def test_demo_logins_work_and_change_at_each_start(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo-logins.txt"
    await seed_demo(sessions, clock, logins_path=path)
    printed = capsys.readouterr().out
    first = {line.split()[0]: line.split()[1] for line in path.read_text().splitlines()}
    assert set(first) == {"operator", "operator2", "supervisor", "technician", "admin"}
    assert path.stat().st_mode & 0o777 == 0o600
    assert all(password in printed for password in first.values())

    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        for username, password in first.items():
            response = await http.post("/api/login", json={"username": username, "password": password})
            assert response.status_code == 200, username
        assert (await http.get("/api/me")).json()["user"]["username"] == "admin"
        assert (await http.get("/api/alarms")).status_code == 200

        await seed_demo(sessions, clock, logins_path=path)  # the next start
        second = {line.split()[0]: line.split()[1] for line in path.read_text().splitlines()}
        assert second["operator"] != first["operator"]
        assert (await http.get("/api/me")).status_code == 401  # the old sessions ended with the old passwords
        old = await http.post("/api/login", json={"username": "operator", "password": first["operator"]})
        assert old.status_code == 401
        new = await http.post("/api/login", json={"username": "operator", "password": second["operator"]})
        assert new.status_code == 200
        assert new.json()["user"]["role"] == "operator"
        assert len(new.json()["user"]["municipality_ids"]) == 1
