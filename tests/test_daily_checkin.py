"""The daily check-in: a window missed raises one no_checkin alarm (escalated by its policy); a
check-in in the window raises nothing; a closed alarm is not raised again for the same window; the
next day's miss raises again. The clock is moved, not slept."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Actor, Move, apply_move
from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.care.checkin import last_closed_window, raise_missed_checkins, window_on
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import load_policies
from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import PROJECT_ROOT
from registry.model import Band, Resident
from simulator.lab.staff import create_staff, log_in
from tests.support.seed import SeededBand, seed_resident_with_band

WARSAW = ZoneInfo("Europe/Warsaw")
POLICIES = load_policies(PROJECT_ROOT / "config" / "escalation.toml")


def test_the_window_of_a_day_and_the_last_one_closed() -> None:
    window = window_on(datetime(2026, 12, 4).date(), time(8), time(10), WARSAW)
    assert (window.opens, window.closes) == (
        datetime(2026, 12, 4, 7, tzinfo=UTC),
        datetime(2026, 12, 4, 9, tzinfo=UTC),
    )
    overnight = window_on(datetime(2026, 12, 4).date(), time(22), time(1), WARSAW)
    assert overnight.closes == datetime(2026, 12, 5, 0, tzinfo=UTC)
    # Before today's window closes, the last closed one is yesterday's.
    assert last_closed_window(datetime(2026, 12, 4, 8, 59, tzinfo=UTC), time(8), time(10), WARSAW) == window_on(
        datetime(2026, 12, 3).date(), time(8), time(10), WARSAW
    )
    assert last_closed_window(datetime(2026, 12, 4, 9, 0, tzinfo=UTC), time(8), time(10), WARSAW) == window


async def _resident_with_window(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> SeededBand:
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Resident)
            .where(Resident.id == seeded.resident_id)
            .values(checkin_from=time(8), checkin_until=time(10))
        )
    return seeded


async def _pass(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> list[int]:
    async with sessions() as session, session.begin():
        return await raise_missed_checkins(session, now=clock.now(), policies=POLICIES)


def _to(clock: FakeClock, at: datetime) -> None:
    clock.advance((at - clock.now()).total_seconds())


@pytest.mark.asyncio
async def test_a_missed_window_raises_one_alarm_a_check_in_none(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    day = (clock.now() + timedelta(days=1)).astimezone(WARSAW).date()
    _to(clock, datetime.combine(day, time(7), WARSAW))
    seeded = await _resident_with_window(sessions, clock)

    # Day 1: "I am fine" at 8:30: nothing at 10:01.
    _to(clock, datetime.combine(day, time(8, 30), WARSAW))
    async with sessions() as session, session.begin():
        await session.execute(update(Band).where(Band.id == seeded.band_id).values(last_checkin_at=clock.now()))
    _to(clock, datetime.combine(day, time(10, 1), WARSAW))
    assert await _pass(sessions, clock) == []

    # Day 2: nothing in the window: at 10:00 one alarm, escalated by the no_checkin policy.
    day2 = day + timedelta(days=1)
    _to(clock, datetime.combine(day2, time(9, 59), WARSAW))
    assert await _pass(sessions, clock) == []
    _to(clock, datetime.combine(day2, time(10, 0, 30), WARSAW))
    [alarm_id] = await _pass(sessions, clock)
    assert await _pass(sessions, clock) == []
    async with sessions() as session:
        alarm = await session.get(Alarm, alarm_id)
        assert alarm is not None
        assert (alarm.kind, alarm.priority, alarm.resident_id) == ("no_checkin", 3, seeded.resident_id)
        row = (await session.execute(select(Escalation).where(Escalation.alarm_id == alarm_id))).scalar_one()
        assert row.policy["name"] == "no_checkin"
        [raised] = (await session.execute(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id))).scalars().all()
        assert raised.detail["window"] == "08:00–10:00"

    # The operator calls, she is fine, the alarm is closed: not raised again for that window.
    async with sessions() as session, session.begin():
        staff = await create_staff(sessions, clock, role="operator", municipality_ids=[seeded.municipality_id])
        await apply_move(session, at=clock.now(), alarm_id=alarm_id, move=Move.CLAIM, actor=Actor.staff(staff.id))
        await apply_move(
            session,
            at=clock.now(),
            alarm_id=alarm_id,
            move=Move.RESOLVE,
            actor=Actor.staff(staff.id),
            outcome="resident_ok_after_call",
            note="Zapomniała nacisnąć, wszystko dobrze.",
        )
    _to(clock, datetime.combine(day2, time(15), WARSAW))
    assert await _pass(sessions, clock) == []

    # Day 3, missed again: a new alarm.
    _to(clock, datetime.combine(day2 + timedelta(days=1), time(10, 2), WARSAW))
    assert len(await _pass(sessions, clock)) == 1


@pytest.mark.asyncio
async def test_the_window_is_set_by_technicians_and_refused_half_given(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    technician = await create_staff(sessions, clock, role="technician", municipality_ids=[seeded.municipality_id])
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=[seeded.municipality_id])
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    url = f"/api/registry/residents/{seeded.resident_id}/checkin-window"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        await log_in(client, technician)
        assert (await client.get(url)).json() == {"from": None, "until": None}
        half = await client.put(url, json={"from": "08:00"})
        assert half.status_code == 422
        assert half.json()["detail"][0]["loc"] == ["body", "until"]
        assert (await client.put(url, json={"from": "08:00", "until": "08:00"})).status_code == 422
        assert (await client.put(url, json={"from": "25:00", "until": "08:00"})).status_code == 422
        saved = await client.put(url, json={"from": "08:00", "until": "10:00"})
        assert saved.status_code == 200, saved.text
        assert saved.json() == {"from": "08:00:00", "until": "10:00:00"}
        assert (await client.put(url, json={"from": None, "until": None})).json() == {"from": None, "until": None}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        await log_in(client, operator)
        assert (await client.get(url)).status_code == 200
        assert (await client.put(url, json={"from": "08:00", "until": "10:00"})).status_code == 403
