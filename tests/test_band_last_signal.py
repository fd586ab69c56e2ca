"""A band's "Ostatni sygnał": the time and kind of its newest accepted message, whatever the kind,
kept apart from its last check-in, and the same in the alarm detail and the band and resident
cards. Messages go through a real broker and the real gateway; the console is asked over its API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from gateway import repository
from gateway.presence import PresenceUpdate
from gateway.runner import Gateway
from registry.model import Band
from simulator.band import VirtualBand
from simulator.lab.staff import create_staff, log_in
from tests.support.gateway import GatewayHarness, eventually
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def console(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """No staff yet: `as_supervisor` logs in once the band is seeded in its municipality."""
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        yield http


async def as_supervisor(
    http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], clock: FakeClock, seeded: SeededBand
) -> None:
    member = await create_staff(sessions, clock, role="supervisor", municipality_ids=[seeded.municipality_id])
    await log_in(http, member)


async def get(http: httpx.AsyncClient, url: str) -> Any:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def _signal_on_cards(http: httpx.AsyncClient, seeded: SeededBand) -> tuple[dict[str, Any], dict[str, Any]]:
    band = (await get(http, f"/api/registry/bands/{seeded.band_id}"))["whereabouts"]
    [resident] = (await get(http, f"/api/registry/residents/{seeded.resident_id}"))["whereabouts"]
    assert band == resident  # one view, the same on both cards
    assert band["band_id"] == seeded.band_id
    return band, band["last_signal"]


async def _settled(gateway: Gateway, expected: int) -> None:
    async def done() -> bool:
        return gateway.received >= expected and sum(gateway.tally.values()) == gateway.received

    await eventually(done, timeout=15)


async def _band(sessions: async_sessionmaker[AsyncSession], band_id: int) -> Band:
    async with sessions() as session:
        return (await session.execute(select(Band).where(Band.id == band_id))).scalar_one()


async def test_the_last_signal_follows_each_new_kind_on_every_card(
    harness: GatewayHarness, console: httpx.AsyncClient, clock: FakeClock
) -> None:
    sessions = harness.sessions
    seeded = await seed_resident_with_band(sessions, clock)
    await as_supervisor(console, sessions, clock, seeded)

    whereabouts, signal = await _signal_on_cards(console, seeded)
    assert (signal, whereabouts["last_location"]) == (None, None)  # never heard: nothing to show

    async with harness.gateway() as gateway:
        band: VirtualBand = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            await band.heartbeat()
            await _settled(gateway, 2)  # the heartbeat and the band's retained "online" status
            heard_at = clock.now()
            _, signal = await _signal_on_cards(console, seeded)
            assert (_at(signal["at"]), signal["kind"]) == (heard_at, "heartbeat")

            clock.advance(40)
            band.state.lat, band.state.lon = 51.11370, 17.01880
            await band.report_location()
            await _settled(gateway, 3)
            whereabouts, signal = await _signal_on_cards(console, seeded)
            assert (_at(signal["at"]), signal["kind"]) == (heard_at + timedelta(seconds=40), "location")
            location = whereabouts["last_location"]
            assert (location["lat"], location["lon"], location["accuracy_m"], location["source"]) == (
                51.1137,
                17.0188,
                15,
                "gps",
            )
            assert location["map_url"].startswith("https://www.openstreetmap.org/?mlat=51.113700&mlon=17.018800")

            clock.advance(25)
            alarm_id = int((await band.press("sos", timeout=15))["alarm_id"])
            _, signal = await _signal_on_cards(console, seeded)
            assert (_at(signal["at"]), signal["kind"]) == (heard_at + timedelta(seconds=65), "sos")
            detail = (await get(console, f"/api/alarms/{alarm_id}"))["band"]
            assert detail["last_signal"] == signal
            assert detail["last_location"] == whereabouts["last_location"]
            # The check-in is its own line: no check-in yet, whatever else the band sent.
            assert detail["last_heartbeat_at"] is None

            clock.advance(30)
            await band.checkin()
            await _settled(gateway, 5)
            detail = (await get(console, f"/api/alarms/{alarm_id}"))["band"]
            assert (_at(detail["last_signal"]["at"]), detail["last_signal"]["kind"]) == (
                heard_at + timedelta(seconds=95),
                "checkin",
            )
            assert _at(detail["last_heartbeat_at"]) == heard_at + timedelta(seconds=95)

            # A message the gateway refuses is heard (last seen moves) but is no signal of the band's.
            clock.advance(10)
            await band.publish("heartbeat", {"battery": "full"})
            await _settled(gateway, 6)
            assert gateway.tally["accepted"] == 5
            assert gateway.received == 6

            # A refusal is counted when judged; its presence lands with the report lane's next flush.
            async def heard_late() -> bool:
                return (await _band(sessions, seeded.band_id)).last_seen_at == heard_at + timedelta(seconds=105)

            await eventually(heard_late, timeout=15)
            row = await _band(sessions, seeded.band_id)
            assert row.last_seen_at == heard_at + timedelta(seconds=105)
            assert (row.last_message_at, row.last_message_kind) == (heard_at + timedelta(seconds=95), "checkin")
        finally:
            await band.stop()


@pytest.mark.parametrize("many", [False, True], ids=["one band", "a batch"])
async def test_a_late_older_batch_does_not_take_the_last_signal_back(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, many: bool
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    newer, older = clock.now(), clock.now() - timedelta(seconds=30)

    async def record(kind: str, at: datetime) -> None:
        update = PresenceUpdate()
        update.seen(at)
        update.sent(kind, at)
        async with sessions() as session, session.begin():
            if many:
                await repository.record_presence_many(session, [(seeded.band_id, update)])
            else:
                await repository.record_presence(session, band_id=seeded.band_id, update_=update)

    await record("sos", newer)
    await record("heartbeat", older)  # a batch that was retried and landed after the newer one
    row = await _band(sessions, seeded.band_id)
    assert (row.last_message_at, row.last_message_kind) == (newer, "sos")
    await record("location", newer + timedelta(seconds=1))
    row = await _band(sessions, seeded.band_id)
    assert (row.last_message_at, row.last_message_kind) == (newer + timedelta(seconds=1), "location")
