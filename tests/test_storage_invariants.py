"""The database itself refuses a second open alarm per band and kind, and a repeated message."""

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm, AlarmStatus
from core.clock import FakeClock
from registry.traffic.messages import BandMessage
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


def _alarm(band_id: int, clock: FakeClock, *, kind: str = "sos", is_test: bool = False) -> Alarm:
    return Alarm(
        band_id=band_id,
        kind=kind,
        priority=1,
        status="raised",
        is_test=is_test,
        raised_at=clock.now(),
        repeat_count=0,
        note="",
    )


async def test_second_open_alarm_same_kind_refused(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    band = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        session.add(_alarm(band.band_id, clock))
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            session.add(_alarm(band.band_id, clock))


async def test_other_kind_test_alarm_and_closed_alarm_do_not_conflict(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    band = await seed_resident_with_band(sessions, clock)
    async with sessions() as session, session.begin():
        first = _alarm(band.band_id, clock)
        session.add_all([first, _alarm(band.band_id, clock, kind="fall"), _alarm(band.band_id, clock, is_test=True)])
    async with sessions() as session, session.begin():
        await session.execute(update(Alarm).where(Alarm.id == first.id).values(status=AlarmStatus.RESOLVED))
        session.add(_alarm(band.band_id, clock))  # a new SOS after the first was resolved


async def test_band_message_id_unique_per_band(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    band = await seed_resident_with_band(sessions, clock)
    other = await seed_resident_with_band(sessions, clock)

    def message(band_id: int) -> BandMessage:
        return BandMessage(
            band_id=band_id,
            message_id="m-1",
            kind="sos",
            received_at=clock.now(),
            payload={},
            malformed=False,
            clock_suspect=False,
        )

    async with sessions() as session, session.begin():
        session.add_all([message(band.band_id), message(other.band_id)])  # same id, other band: fine
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            session.add(message(band.band_id))


async def test_times_round_trip_as_utc(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    band = await seed_resident_with_band(sessions, clock)
    clock.advance(timedelta(hours=3).total_seconds())
    async with sessions() as session, session.begin():
        alarm = _alarm(band.band_id, clock)
        session.add(alarm)
    async with sessions() as session:
        loaded = await session.get(Alarm, alarm.id)
        assert loaded is not None
        assert loaded.raised_at == clock.now()
        assert loaded.raised_at.utcoffset() == timedelta(0)
