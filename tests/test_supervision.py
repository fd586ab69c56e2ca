"""Supervision: technical alarms raised and cleared from band presence in the database.

The gateway is simulated by writing what it writes: the band's presence columns and its own
`service_state` row. The clock is fast-forwarded; each `supervise()` is one pass of the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm, AlarmEvent, AlarmKind, AlarmStatus
from alarm_center.engine import run_engine
from alarm_center.supervision.loop import Supervisor, run_supervision
from alarm_center.supervision.rules import Change
from core.clock import FakeClock
from core.db.service_state import ServiceState
from core.settings import BandSettings, Settings
from registry import service
from registry.model import Band, BandStatus
from tests.support.gateway import eventually
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio

OFFLINE = AlarmKind.BAND_OFFLINE
BATTERY = AlarmKind.BATTERY_LOW
NOT_WORN = AlarmKind.NOT_WORN

# Short, round numbers so the windows are easy to read: offline after 3 x 60 s = 180 s.
BANDS = BandSettings(
    heartbeat_interval_s=60,
    offline_after_missed=3,
    battery_low_pct=20,
    battery_ok_pct=25,
    not_worn_after_s=600,
    supervision_every_s=15,
)


@dataclass
class World:
    """The database, the clock, a simulated gateway and a supervisor, in the words of the rules."""

    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    supervisor: Supervisor
    gateway_name: str = field(default_factory=lambda: f"gateway/t{uuid.uuid4().hex[:8]}")
    gateway_connected: bool = False

    # --- the gateway -------------------------------------------------------------------------

    async def _gateway_row(self, *, connected_since: datetime | None) -> None:
        async with self.sessions() as session, session.begin():
            await session.merge(
                ServiceState(name=self.gateway_name, connected_since=connected_since, alive_at=self.clock.now())
            )

    async def gateway_connects(self) -> None:
        self.gateway_connected = True
        await self._gateway_row(connected_since=self.clock.now())

    async def gateway_disconnects(self) -> None:
        """The gateway runs but has lost the broker: alive, connected_since NULL."""
        self.gateway_connected = False
        await self._gateway_row(connected_since=None)

    async def gateway_dies(self) -> None:
        """The gateway process stops: its row stays as it was and goes stale."""
        self.gateway_connected = False

    async def advance(self, seconds: float) -> None:
        """Move time on; a connected gateway keeps refreshing alive_at, as the real one does."""
        self.clock.advance(seconds)
        if self.gateway_connected:
            async with self.sessions() as session, session.begin():
                await session.execute(
                    update(ServiceState).where(ServiceState.name == self.gateway_name).values(alive_at=self.clock.now())
                )

    # --- bands -------------------------------------------------------------------------------

    async def band(self, **presence: Any) -> int:
        seeded = await seed_resident_with_band(self.sessions, self.clock)
        if presence:
            await self.presence(seeded.band_id, **presence)
        return seeded.band_id

    async def presence(self, band_id: int, **values: Any) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(update(Band).where(Band.id == band_id).values(**values))

    async def heard(self, *band_ids: int) -> None:
        for band_id in band_ids:
            await self.presence(band_id, last_seen_at=self.clock.now())

    # --- supervision and what it left in the database ----------------------------------------

    async def supervise(self, supervisor: Supervisor | None = None) -> list[Change]:
        return await (supervisor or self.supervisor).run_pass()

    async def alarms(self, band_id: int, kind: AlarmKind) -> list[Alarm]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(Alarm).where(Alarm.band_id == band_id, Alarm.kind == kind.value).order_by(Alarm.id)
            )
            return list(rows.scalars())

    async def open_alarm(self, band_id: int, kind: AlarmKind) -> Alarm | None:
        open_ = [a for a in await self.alarms(band_id, kind) if a.status in (AlarmStatus.RAISED, AlarmStatus.CLAIMED)]
        assert len(open_) <= 1
        return open_[0] if open_ else None

    async def events(self, alarm_id: int) -> list[AlarmEvent]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)
            )
            return list(rows.scalars())

    async def all_technical(self) -> list[Alarm]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(Alarm).where(Alarm.kind.in_([OFFLINE, BATTERY, NOT_WORN])).order_by(Alarm.id)
            )
            return list(rows.scalars())


@pytest.fixture
def world(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> World:
    return World(sessions, clock, Supervisor(BANDS, sessions, clock))


# --- band offline ------------------------------------------------------------------------------


async def test_offline_is_raised_after_the_window_and_only_then(world: World) -> None:
    await world.gateway_connects()
    await world.advance(3600)  # the gateway has been connected for a long time
    band = await world.band()
    await world.heard(band)
    seen_at = world.clock.now()

    await world.advance(179)
    assert await world.supervise() == []
    assert await world.alarms(band, OFFLINE) == []

    await world.advance(2)
    [change] = await world.supervise()
    assert (change.action, change.kind, change.band_id) == ("raised", "band_offline", band)
    alarm = await world.open_alarm(band, OFFLINE)
    assert alarm is not None
    assert alarm.id == change.alarm_id
    assert alarm.status == AlarmStatus.RAISED
    assert alarm.is_test is False
    assert alarm.first_message_id is None
    assert alarm.priority == 5
    [raised] = await world.events(alarm.id)
    assert (raised.type, raised.actor_type, raised.to_status) == ("raised", "system", "raised")
    assert raised.detail["last_seen_at"] == seen_at.isoformat()
    assert raised.detail["offline_after_s"] == 180

    # Pass after pass while the band stays silent: still the one alarm, with its one event.
    for _ in range(10):
        await world.advance(15)
        assert await world.supervise() == []
    assert len(await world.alarms(band, OFFLINE)) == 1
    assert len(await world.events(alarm.id)) == 1


async def test_offline_clears_when_the_band_is_seen_again_and_can_be_raised_anew(world: World) -> None:
    await world.gateway_connects()
    await world.advance(3600)
    band = await world.band()
    await world.heard(band)
    await world.advance(200)
    await world.supervise()
    first = await world.open_alarm(band, OFFLINE)
    assert first is not None

    await world.advance(5)
    await world.heard(band)
    await world.advance(1)
    [change] = await world.supervise()
    assert (change.action, change.alarm_id, change.reason) == ("cleared", first.id, "seen_again")
    [closed] = await world.alarms(band, OFFLINE)
    assert closed.status == AlarmStatus.RESOLVED
    assert closed.outcome == "auto_cleared"
    assert closed.closed_at == world.clock.now()
    raised, cleared = await world.events(first.id)
    assert raised.type == "raised"
    assert (cleared.type, cleared.actor_type) == ("cleared", "system")
    assert (cleared.from_status, cleared.to_status) == ("raised", "resolved")
    assert cleared.detail["reason"] == "seen_again"
    assert cleared.detail["last_seen_at"] is not None

    # Silent again for a whole window: a new alarm, not the old one reopened.
    await world.advance(181)
    await world.supervise()
    second = await world.open_alarm(band, OFFLINE)
    assert second is not None
    assert second.id != first.id


async def test_a_claimed_offline_alarm_is_also_cleared(world: World) -> None:
    await world.gateway_connects()
    await world.advance(3600)
    band = await world.band()
    await world.heard(band)
    await world.advance(200)
    await world.supervise()
    alarm = await world.open_alarm(band, OFFLINE)
    assert alarm is not None
    async with world.sessions() as session, session.begin():
        await session.execute(update(Alarm).where(Alarm.id == alarm.id).values(status=AlarmStatus.CLAIMED))

    await world.advance(1)
    await world.heard(band)
    await world.supervise()
    assert await world.open_alarm(band, OFFLINE) is None
    cleared = (await world.events(alarm.id))[-1]
    assert (cleared.from_status, cleared.to_status) == ("claimed", "resolved")


async def test_a_band_never_seen_is_not_offline(world: World) -> None:
    await world.gateway_connects()
    band = await world.band()  # registered and bound, never connected: last_seen_at NULL
    await world.advance(24 * 3600)
    await world.supervise()
    assert await world.alarms(band, OFFLINE) == []


async def test_a_gateway_outage_does_not_mark_every_band_offline(world: World) -> None:
    await world.gateway_connects()
    await world.advance(3600)
    bands = [await world.band() for _ in range(12)]
    await world.heard(*bands)

    # The broker goes away: the gateway runs on, disconnected, for an hour.
    await world.advance(30)
    await world.gateway_disconnects()
    for _ in range(12):
        await world.advance(300)
        await world.gateway_disconnects()  # alive_at refreshed, still not connected
        await world.supervise()
    assert await world.all_technical() == []

    # Then the gateway process itself dies: its row says "connected", but it is stale.
    await world._gateway_row(connected_since=world.clock.now() - timedelta(hours=2))
    await world.gateway_dies()
    await world.advance(31)
    await world.supervise()
    assert await world.all_technical() == []

    # It comes back. Every band gets a full window from the reconnection, not from its last message.
    await world.gateway_connects()
    await world.supervise()
    await world.advance(120)
    reporting, silent = bands[:8], bands[8:]
    await world.heard(*reporting)
    await world.advance(59)  # 179 s after reconnecting
    assert await world.supervise() == []

    await world.advance(2)  # 181 s: only the bands that stayed silent are offline
    changes = await world.supervise()
    assert sorted(c.band_id for c in changes) == sorted(silent)
    assert {c.kind for c in changes} == {"band_offline"}
    # The raised alarm says from when it counted: the reconnection.
    alarm = await world.open_alarm(silent[0], OFFLINE)
    assert alarm is not None
    [raised] = await world.events(alarm.id)
    assert raised.detail["counted_from"] == (world.clock.now() - timedelta(seconds=181)).isoformat()


async def test_a_band_interval_override_sets_its_own_window(world: World) -> None:
    await world.gateway_connects()
    await world.advance(3600)
    default_band = await world.band()
    slow_band = await world.band(heartbeat_interval_s=600)  # offline after 3 x 600 s
    await world.heard(default_band, slow_band)

    await world.advance(181)
    await world.supervise()
    assert await world.open_alarm(default_band, OFFLINE) is not None
    assert await world.open_alarm(slow_band, OFFLINE) is None

    await world.advance(1799 - 181)
    await world.supervise()
    assert await world.open_alarm(slow_band, OFFLINE) is None
    await world.advance(2)
    await world.supervise()
    alarm = await world.open_alarm(slow_band, OFFLINE)
    assert alarm is not None
    [raised] = await world.events(alarm.id)
    assert raised.detail["heartbeat_interval_s"] == 600


# --- battery low -------------------------------------------------------------------------------


async def test_battery_low_is_raised_once_cleared_with_hysteresis_and_raised_again(world: World) -> None:
    band = await world.band(battery_pct=30, charging=False)
    await world.supervise()
    assert await world.alarms(band, BATTERY) == []

    await world.presence(band, battery_pct=19)
    [change] = await world.supervise()
    assert (change.action, change.kind) == ("raised", "battery_low")
    first = await world.open_alarm(band, BATTERY)
    assert first is not None
    [raised] = await world.events(first.id)
    assert (raised.actor_type, raised.detail["battery_pct"], raised.detail["charging"]) == ("system", 19, False)

    # Heartbeat after heartbeat, still low: the one alarm, nothing added to it.
    for pct in (19, 18, 18, 17, 16, 15, 15, 14):
        await world.advance(60)
        await world.presence(band, battery_pct=pct, last_seen_at=world.clock.now())
        assert await world.supervise() == []
    assert len(await world.alarms(band, BATTERY)) == 1
    assert len(await world.events(first.id)) == 1

    # Back above "low" but below "ok": hysteresis keeps it open.
    await world.presence(band, battery_pct=22)
    assert await world.supervise() == []
    assert await world.open_alarm(band, BATTERY) is not None

    await world.presence(band, battery_pct=25)
    [change] = await world.supervise()
    assert (change.action, change.reason) == ("cleared", "battery_ok")
    closed = (await world.alarms(band, BATTERY))[0]
    assert (closed.status, closed.outcome) == (AlarmStatus.RESOLVED, "auto_cleared")
    cleared = (await world.events(first.id))[-1]
    assert (cleared.type, cleared.detail["reason"], cleared.detail["battery_pct"]) == ("cleared", "battery_ok", 25)

    # A new drop is a new alarm; plugging in the charger clears it even while still low.
    await world.presence(band, battery_pct=12)
    await world.supervise()
    second = await world.open_alarm(band, BATTERY)
    assert second is not None
    assert second.id != first.id
    await world.presence(band, charging=True)
    [change] = await world.supervise()
    assert (change.action, change.reason) == ("cleared", "charging")
    assert await world.open_alarm(band, BATTERY) is None

    # Low but charging: nothing to tell anyone.
    await world.presence(band, battery_pct=5)
    assert await world.supervise() == []


async def test_battery_of_unknown_charging_state_counts_as_not_charging(world: World) -> None:
    band = await world.band(battery_pct=10, charging=None)
    await world.supervise()
    assert await world.open_alarm(band, BATTERY) is not None


# --- not worn ----------------------------------------------------------------------------------


async def test_not_worn_after_the_configured_time_and_cleared_when_worn(world: World) -> None:
    band = await world.band(worn=False, unworn_since=world.clock.now())
    await world.advance(599)
    assert await world.supervise() == []

    await world.advance(2)
    [change] = await world.supervise()
    assert (change.action, change.kind) == ("raised", "not_worn")
    alarm = await world.open_alarm(band, NOT_WORN)
    assert alarm is not None
    [raised] = await world.events(alarm.id)
    assert raised.detail["unworn_since"] == (world.clock.now() - timedelta(seconds=601)).isoformat()

    await world.advance(600)
    assert await world.supervise() == []  # still off: still the one alarm

    await world.presence(band, worn=True, unworn_since=None)
    [change] = await world.supervise()
    assert (change.action, change.reason) == ("cleared", "worn_again")
    cleared = (await world.events(alarm.id))[-1]
    assert (cleared.type, cleared.actor_type, cleared.detail["reason"]) == ("cleared", "system", "worn_again")


async def test_not_worn_put_on_and_taken_off_again_between_passes_is_a_new_episode(world: World) -> None:
    band = await world.band(worn=False, unworn_since=world.clock.now())
    await world.advance(601)
    await world.supervise()
    first = await world.open_alarm(band, NOT_WORN)
    assert first is not None

    # Worn for a moment and off again before the next pass: the old episode ended.
    await world.advance(10)
    await world.presence(band, unworn_since=world.clock.now())
    await world.advance(5)
    await world.supervise()
    assert await world.open_alarm(band, NOT_WORN) is None
    await world.advance(600)
    await world.supervise()
    second = await world.open_alarm(band, NOT_WORN)
    assert second is not None
    assert second.id != first.id


# --- restarts, concurrency, the band's lifecycle -----------------------------------------------


async def test_a_restarted_supervisor_neither_duplicates_nor_forgets(world: World) -> None:
    await world.gateway_connects()
    await world.advance(3600)
    band = await world.band(battery_pct=10, charging=False, worn=False, unworn_since=world.clock.now())
    await world.heard(band)
    await world.advance(700)
    raised = await world.supervise()
    assert sorted(c.kind for c in raised) == ["band_offline", "battery_low", "not_worn"]

    # The engine restarts: a new supervisor with nothing in memory.
    restarted = Supervisor(BANDS, world.sessions, world.clock)
    await world.advance(15)
    assert await world.supervise(restarted) == []
    for kind in (OFFLINE, BATTERY, NOT_WORN):
        assert len(await world.alarms(band, kind)) == 1

    # The causes go away while the old one is gone: the new one clears what the old one raised.
    await world.presence(band, last_seen_at=world.clock.now(), battery_pct=80, worn=True, unworn_since=None)
    await world.advance(1)
    cleared = await world.supervise(restarted)
    assert sorted((c.kind, c.action) for c in cleared) == [
        ("band_offline", "cleared"),
        ("battery_low", "cleared"),
        ("not_worn", "cleared"),
    ]
    assert await world.supervise(restarted) == []


async def test_two_supervisors_at_once_raise_and_clear_each_alarm_once(world: World) -> None:
    await world.gateway_connects()
    await world.advance(3600)
    bands = [await world.band(battery_pct=5, charging=False) for _ in range(6)]
    await world.heard(*bands)
    await world.advance(200)
    other = Supervisor(BANDS, world.sessions, world.clock)

    first, second = await asyncio.gather(world.supervise(), world.supervise(other))
    assert len(first) + len(second) == 12  # each band: one offline and one battery alarm
    assert len(await world.all_technical()) == 12

    await world.presence(bands[0], battery_pct=90)
    first, second = await asyncio.gather(world.supervise(), world.supervise(other))
    assert [c.action for c in first + second] == ["cleared"]
    alarm = (await world.alarms(bands[0], BATTERY))[0]
    assert [e.type for e in await world.events(alarm.id)] == ["raised", "cleared"]


async def test_stock_and_retired_bands_are_not_supervised(world: World) -> None:
    await world.gateway_connects()
    await world.advance(3600)
    problems = {
        "last_seen_at": world.clock.now(),
        "battery_pct": 3,
        "charging": False,
        "worn": False,
        "unworn_since": world.clock.now(),
    }
    async with world.sessions() as session, session.begin():
        stock = (await service.register_band(session, world.clock, serial=f"S-{uuid.uuid4().hex[:8]}")).band.id
    retired = await world.band(status=BandStatus.RETIRED)
    await world.presence(stock, **problems)
    await world.presence(retired, **problems)
    await world.advance(24 * 3600)
    await world.supervise()
    assert await world.all_technical() == []


async def test_retiring_a_band_takes_its_open_technical_alarms_along(world: World) -> None:
    band = await world.band(battery_pct=3, charging=False)
    await world.supervise()
    alarm = await world.open_alarm(band, BATTERY)
    assert alarm is not None

    await world.presence(band, status=BandStatus.RETIRED)
    [change] = await world.supervise()
    assert (change.action, change.reason) == ("cleared", "band_out_of_service")
    cleared = (await world.events(alarm.id))[-1]
    assert cleared.detail["band_status"] == "retired"


async def test_supervision_leaves_life_alarms_alone(world: World) -> None:
    band = await world.band(battery_pct=3, charging=True)
    async with world.sessions() as session, session.begin():
        session.add(
            Alarm(
                band_id=band,
                kind=AlarmKind.SOS.value,
                priority=1,
                status=AlarmStatus.RAISED.value,
                is_test=False,
                raised_at=world.clock.now(),
                repeat_count=0,
                note="",
            )
        )
        # Even if the band were then retired: an SOS is closed by a person, never by supervision.
    await world.presence(band, status=BandStatus.RETIRED)
    assert await world.supervise() == []
    [sos] = await world.alarms(band, AlarmKind.SOS)
    assert sos.status == AlarmStatus.RAISED


# --- the loop ----------------------------------------------------------------------------------


async def test_each_change_is_logged_with_ids_only(world: World, caplog: pytest.LogCaptureFixture) -> None:
    band = await world.band(battery_pct=3, charging=False)
    with caplog.at_level(logging.INFO, logger="alarm_center.supervision"):
        [change] = await world.supervise()
    lines = [r.getMessage() for r in caplog.records if r.name == "alarm_center.supervision.loop"]
    assert f"technical alarm {change.alarm_id} raised: battery_low, band {band} (battery_low)" in lines
    assert not any("Kowalska" in line or "Helena" in line for line in lines)


class FlakySessions:
    """A session factory whose database is away for the first `failures` transactions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], failures: int) -> None:
        self._sessions = sessions
        self.failures = failures

    def __call__(self) -> AsyncSession:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("database is away")
        return self._sessions()


async def test_the_loop_survives_a_failed_pass_and_retries(world: World, caplog: pytest.LogCaptureFixture) -> None:
    band = await world.band(battery_pct=3, charging=False)
    flaky = FlakySessions(world.sessions, failures=2)
    settings = Settings(bands=BANDS)
    with caplog.at_level(logging.INFO, logger="alarm_center.supervision"):
        task = asyncio.create_task(run_supervision(settings, flaky, world.clock))  # type: ignore[arg-type]
        try:

            async def raised_by_a_later_pass() -> bool:
                if await world.open_alarm(band, BATTERY) is not None:
                    return True
                world.clock.advance(BANDS.supervision_every_s)  # on to the next pass
                return False

            await eventually(raised_by_a_later_pass)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert flaky.failures == 0
    assert sum("supervision pass failed" in r.getMessage() for r in caplog.records) == 2
    assert len(await world.alarms(band, BATTERY)) == 1


async def test_the_engine_runs_supervision(world: World) -> None:
    band = await world.band(battery_pct=3, charging=False)
    task = asyncio.create_task(run_engine(Settings(bands=BANDS), world.sessions, world.clock))
    try:

        async def raised() -> bool:
            return await world.open_alarm(band, BATTERY) is not None

        await eventually(raised)
        await world.presence(band, battery_pct=100)

        async def cleared() -> bool:
            if await world.open_alarm(band, BATTERY) is None:
                return True
            # Moved on each time round: the pass that raised may not have gone to sleep yet.
            world.clock.advance(BANDS.supervision_every_s)
            return False

        await eventually(cleared)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
