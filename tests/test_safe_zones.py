"""Wandering zones: a band's positions, sent over MQTT through the real gateway, judged against the
resident's safe zone. Leaving raises one left_zone alarm (escalated by its policy) with the
position; coming back is on the alarm's timeline; GPS jitter at the edge raises nothing; the
judgement survives a restart (it is in the database). The console sets the zone and shows it on
the alarm. The clock is moved, never slept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.care.zone_rule import Fix, Verdict, Zone, distance_m, judge, offset
from alarm_center.care.zones import ZoneWatch
from alarm_center.escalation.model import Escalation
from alarm_center.escalation.policy import PolicySource
from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import PROJECT_ROOT
from gateway.runner import Gateway
from registry.model import Band, Resident
from simulator.lab.staff import create_staff, log_in
from tests.support.gateway import GatewayHarness, eventually
from tests.support.seed import SeededBand, seed_resident_with_band

HOME = (51.10789, 17.03854)  # Wrocław, Rynek
ZONE = Zone(*HOME, radius_m=300)


def _at(north_m: float) -> Fix:
    lat, lon = offset(*HOME, north_m=north_m)
    return Fix(lat, lon, accuracy_m=15)


def test_offset_and_distance_agree() -> None:
    lat, lon = offset(*HOME, north_m=300, east_m=400)
    assert distance_m(*HOME, lat, lon) == pytest.approx(500, abs=0.5)


def test_the_rule_leaves_beyond_the_margin_and_returns_inside_the_radius() -> None:
    # Jitter at the edge: 270–340 m from home, with 15 m accuracy, never counts as leaving.
    for north in (270, 310, 340, 290, 360):
        assert judge(ZONE, _at(north), was_outside=False) == Verdict.UNCHANGED
    assert judge(ZONE, _at(380), was_outside=False) == Verdict.LEFT  # 380 − 15 > 300 + 50
    # Outside: coming back to the edge is not yet back; inside the radius is.
    assert judge(ZONE, _at(320), was_outside=True) == Verdict.UNCHANGED
    assert judge(ZONE, _at(250), was_outside=True) == Verdict.RETURNED
    # A coarse fix (a cell tower, ±1.5 km) 1 km away proves nothing.
    assert judge(ZONE, Fix(*offset(*HOME, north_m=1000), accuracy_m=1500), was_outside=False) == Verdict.UNCHANGED


@pytest_asyncio.fixture
async def console(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        yield http


async def _settled(gateway: Gateway, expected: int) -> None:
    async def done() -> bool:
        return gateway.received >= expected and sum(gateway.tally.values()) == gateway.received

    await eventually(done, timeout=15)


async def _alarms(sessions: async_sessionmaker[AsyncSession], resident_id: int) -> list[Alarm]:
    async with sessions() as session:
        return list(
            (await session.execute(select(Alarm).where(Alarm.resident_id == resident_id).order_by(Alarm.id))).scalars()
        )


async def _events(sessions: async_sessionmaker[AsyncSession], alarm_id: int) -> list[AlarmEvent]:
    async with sessions() as session:
        query = select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
        return list((await session.execute(query)).scalars())


async def _position_stored(sessions: async_sessionmaker[AsyncSession], band_id: int, lat: float) -> None:
    async def stored() -> bool:
        async with sessions() as session:
            raw = (await session.execute(select(Band.last_location).where(Band.id == band_id))).scalar_one()
        return raw is not None and abs(float(raw["lat"]) - lat) < 1e-9

    await eventually(stored, timeout=15)


@pytest.mark.asyncio
async def test_leaving_raises_once_returning_is_recorded_jitter_raises_nothing(
    harness: GatewayHarness, console: httpx.AsyncClient, clock: FakeClock
) -> None:
    sessions = harness.sessions
    seeded: SeededBand = await seed_resident_with_band(sessions, clock)
    technician = await create_staff(sessions, clock, role="technician", municipality_ids=[seeded.municipality_id])
    await log_in(console, technician)
    zone_url = f"/api/registry/residents/{seeded.resident_id}/safe-zone"

    # Half a zone is refused, naming what is missing; a radius out of range too.
    refused = await console.put(zone_url, json={"lat": HOME[0], "lon": None, "radius_m": 300})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "lon"]
    refused = await console.put(zone_url, json={"lat": HOME[0], "lon": HOME[1], "radius_m": 5})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "radius_m"]
    saved = await console.put(zone_url, json={"lat": HOME[0], "lon": HOME[1], "radius_m": 300})
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"zone": {"lat": HOME[0], "lon": HOME[1], "radius_m": 300}, "outside": False}

    watch = ZoneWatch(sessions, clock, PolicySource(PROJECT_ROOT / "config" / "escalation.toml"))
    async with harness.gateway() as gateway:
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        sent = 1  # the band's retained "online" status

        async def walk_to(north_m: float) -> Any:
            nonlocal sent
            clock.advance(30)
            band.state.lat, band.state.lon = offset(*HOME, north_m=north_m)
            await band.report_location()
            sent += 1
            await _settled(gateway, sent)
            await _position_stored(sessions, seeded.band_id, band.state.lat)
            return await watch.run_pass()

        try:
            # Jitter at the edge of the zone: nothing, however often it is judged.
            for north in (120, 280, 330, 290, 345, 310):
                result = await walk_to(north)
                assert (result.left, result.returned) == ([], [])
            assert await _alarms(sessions, seeded.resident_id) == []

            # Out for real: one left_zone alarm, with the position and its escalation started.
            result = await walk_to(520)
            [alarm_id] = result.left
            # Walking further raises nothing more; a pass with no new position neither.
            assert (await walk_to(700)).left == []
            assert (await watch.run_pass()).left == []
            [alarm] = await _alarms(sessions, seeded.resident_id)
            assert (alarm.id, alarm.kind, alarm.status, alarm.band_id) == (
                alarm_id,
                "left_zone",
                "raised",
                seeded.band_id,
            )
            [raised] = [e for e in await _events(sessions, alarm_id) if e.type == "raised"]
            assert raised.detail["reason"] == "left_zone"
            assert (raised.detail["distance_m"], raised.detail["radius_m"]) == (520, 300)
            async with sessions() as session:
                escalation = (
                    await session.execute(select(Escalation).where(Escalation.alarm_id == alarm_id))
                ).scalar_one()
            assert escalation.policy["name"] == "left_zone"

            # The console: the alarm's resident card carries the zone for the map; the registry
            # card says the band is outside now.
            supervisor = await create_staff(
                sessions, clock, role="supervisor", municipality_ids=[seeded.municipality_id]
            )
            await log_in(console, supervisor)
            detail = (await console.get(f"/api/alarms/{alarm_id}")).json()
            assert detail["resident"]["safe_zone"] == {"lat": HOME[0], "lon": HOME[1], "radius_m": 300}
            assert detail["band"]["last_location"]["lat"] == pytest.approx(offset(*HOME, north_m=700)[0])
            assert (await console.get(zone_url)).json()["outside"] is True

            # Back at the edge is not back yet; inside the radius is, on the alarm's timeline. The
            # alarm stays open: an operator calls before closing it.
            assert (await walk_to(320)).returned == []
            assert (await walk_to(150)).returned == [seeded.resident_id]
            [back] = [e for e in await _events(sessions, alarm_id) if e.detail.get("action") == "zone_return"]
            assert (back.type, back.detail["distance_m"]) == ("note", 150)
            timeline = (await console.get(f"/api/alarms/{alarm_id}")).json()["timeline"]
            assert any("wróciła do strefy bezpiecznej: 150 m od domu" in line["text"] for line in timeline)
            [alarm] = await _alarms(sessions, seeded.resident_id)
            assert alarm.status == "raised"

            # The judgement is in the database: a new watch (a restarted engine) does not raise the
            # same exit again, and judges the next exit afresh, while one is still open: merged.
            restarted = ZoneWatch(sessions, clock, PolicySource(PROJECT_ROOT / "config" / "escalation.toml"))
            assert (await restarted.run_pass()).left == []
            watch = restarted
            assert (await walk_to(600)).left == []  # the first exit's alarm is still open
            assert len(await _alarms(sessions, seeded.resident_id)) == 1
        finally:
            await band.stop()

    # No zone: positions anywhere raise nothing.
    assert (await console.put(zone_url, json={"lat": None, "lon": None, "radius_m": None})).json() == {
        "zone": None,
        "outside": False,
    }
    async with sessions() as session, session.begin():
        await session.execute(update(Resident).where(Resident.id == seeded.resident_id).values(zone_judged_at=None))
    assert (await watch.run_pass()).left == []
