"""The installation test: in test mode a band's SOS and falls are test alarms, with a result
(latency, pass/fail, technician) on the band's record; they reach the console only, never the
relatives; test mode ends by itself; a test alarm never absorbs a real one, nor a real one a test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from alarm_center.escalation.presence import record_console
from alarm_center.escalation.worker import EscalationWorker
from alarm_center.notify.model import Notification
from core.clock import FakeClock, SystemClock
from gateway.judge import AlarmMessage
from gateway.service import BandMessageService
from gateway.stored import AlarmStored
from registry import installation_test
from registry.model import BandTestResult
from simulator.lab.staff import create_staff
from tests.support.gateway import GatewayHarness, running_gateway
from tests.support.processes import run_opaska_command
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio


def _press(
    seeded: SeededBand, kind: str, msg_id: str, pressed_at: datetime | None, *, suspect: bool = False
) -> AlarmMessage:
    return AlarmMessage(
        band=seeded.serial,
        kind=kind,
        message_id=msg_id,
        band_time=pressed_at,
        payload={},
        malformed=False,
        clock_suspect=suspect or pressed_at is None,
    )


async def _store(service: BandMessageService, message: AlarmMessage, received_at: datetime) -> AlarmStored:
    stored = await service.store_alarm(message, received_at=received_at)
    assert isinstance(stored, AlarmStored)
    return stored


async def _alarm(sessions: async_sessionmaker[AsyncSession], alarm_id: int | None) -> Alarm:
    async with sessions() as session:
        return (await session.execute(select(Alarm).where(Alarm.id == alarm_id))).scalar_one()


async def _results(sessions: async_sessionmaker[AsyncSession]) -> list[BandTestResult]:
    async with sessions() as session:
        return list((await session.execute(select(BandTestResult).order_by(BandTestResult.id))).scalars())


async def test_test_mode_marks_alarms_measures_latency_and_expires(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    technician = await create_staff(sessions, clock, role="technician", municipality_ids=[seeded.municipality_id])
    service = BandMessageService(sessions, test_pass_latency_ms=5000)
    start = clock.now()
    async with sessions() as session, session.begin():
        band = await installation_test.start_test_mode(
            session, clock, band_id=seeded.band_id, minutes=30, staff_id=technician.id
        )
        assert band.test_mode_until == start + timedelta(minutes=30)

    # Inside the window: a test alarm, a passing result 1.2 s after the press.
    received = start + timedelta(minutes=1)
    test_sos = await _store(service, _press(seeded, "sos", "t1", received - timedelta(milliseconds=1200)), received)
    assert (await _alarm(sessions, test_sos.alarm_id)).is_test
    # A slow fall fails, and so does one whose band clock cannot be believed.
    slow = start + timedelta(minutes=2)
    await _store(service, _press(seeded, "fall", "t2", slow - timedelta(seconds=8)), slow)
    [first, second] = await _results(sessions)
    assert (first.kind, first.latency_ms, first.passed, first.note) == ("sos", 1200, True, "")
    assert (first.alarm_id, first.resident_id, first.technician_id) == (
        test_sos.alarm_id,
        seeded.resident_id,
        technician.id,
    )
    assert first.pressed_at == received - timedelta(milliseconds=1200)
    assert (second.kind, second.latency_ms, second.passed) == ("fall", 8000, False)
    assert "8000 ms" in second.note

    # After 30 minutes, by itself: the next SOS is real, and is not absorbed by the open test SOS.
    late = start + timedelta(minutes=31)
    real_sos = await _store(service, _press(seeded, "sos", "r1", late), late)
    assert real_sos.created
    assert real_sos.alarm_id != test_sos.alarm_id
    assert not (await _alarm(sessions, real_sos.alarm_id)).is_test
    assert len(await _results(sessions)) == 2

    # The technician's operator closes the test SOS; test mode again, with the real SOS still
    # open: a test SOS is an alarm of its own ...
    clock.advance(35 * 60)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Alarm).where(Alarm.id == test_sos.alarm_id).values(status="resolved", closed_at=clock.now())
        )
        await installation_test.start_test_mode(session, clock, band_id=seeded.band_id, minutes=30)
    test_again = await _store(service, _press(seeded, "sos", "t3", None), clock.now())
    assert test_again.alarm_id not in (real_sos.alarm_id, test_sos.alarm_id)
    assert test_again.created
    # ... and a repeat merges into the open test alarm, not the real one.
    repeat = await _store(service, _press(seeded, "sos", "t4", None), clock.now())
    assert (repeat.alarm_id, repeat.created) == (test_again.alarm_id, False)
    third = (await _results(sessions))[-1]
    assert (third.latency_ms, third.passed) == (None, False)
    assert "zegara opaski" in third.note

    async with sessions() as session, session.begin():
        await installation_test.stop_test_mode(session, clock, band_id=seeded.band_id)
    after_stop = await _store(service, _press(seeded, "fall", "r2", None), clock.now())
    assert not (await _alarm(sessions, after_stop.alarm_id)).is_test


async def test_installation_test_over_mqtt_reaches_the_console_only(harness: GatewayHarness, database_url: str) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    technician = await create_staff(sessions, clock, role="technician", municipality_ids=[seeded.municipality_id])
    started = await run_opaska_command(database_url, "band", "test-start", seeded.serial, "--by", technician.username)
    assert started.returncode == 0, started.stderr
    assert "tryb testowy do" in started.stdout

    # The gateway on the real clock, so the latency from the band's press is the real one.
    async with running_gateway(
        endpoint=harness.endpoint,
        topics=harness.topics,
        sessions=sessions,
        clock=SystemClock(),
        client_prefix=harness.client_prefix,
        protocol=harness.protocol,
    ):
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            test_ack = await band.press("sos", timeout=15)
            stopped = await run_opaska_command(database_url, "band", "test-stop", seeded.serial)
            assert stopped.returncode == 0, stopped.stderr
            real_ack = await band.press("sos", timeout=15)
        finally:
            await band.stop()

    test_alarm = await _alarm(sessions, test_ack["alarm_id"])
    real_alarm = await _alarm(sessions, real_ack["alarm_id"])
    assert (test_alarm.is_test, real_alarm.is_test) == (True, False)
    [result] = await _results(sessions)
    assert result.alarm_id == test_alarm.id
    assert result.passed
    assert result.latency_ms is not None
    assert -1000 < result.latency_ms < 5000
    assert result.technician_id == technician.id
    shown = await run_opaska_command(database_url, "band", "tests", seeded.serial)
    assert re.search(rf"sos +ZALICZONY {result.latency_ms} ms", shown.stdout), shown.stdout

    # An hour later, with nobody claiming either: the relatives were called about the real alarm
    # only. (The console is up, so the escalation follows its timetable.)
    later = FakeClock(datetime.now(UTC) + timedelta(hours=1))
    async with sessions() as session, session.begin():
        await record_console(session, name="test", clients_since=later.now(), now=later.now())
    worker = EscalationWorker(sessions, later)
    for _ in range(10):
        await worker.run_round()
        later.advance(120)
    async with sessions() as session:
        notified = (await session.execute(select(Notification.alarm_id, Notification.to_phone))).all()
    assert notified
    assert {alarm_id for alarm_id, _ in notified} == {real_alarm.id}
