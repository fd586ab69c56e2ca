"""The installation test: a technician puts a band in test mode for the visit.

While it lasts, the band's SOS and falls are test alarms (`is_test`): they reach the console
marked TEST, their escalation keeps only console steps (`PolicyBook.snapshot_for`), and a
`BandTestResult` records how long the alarm took from the press to us. Test mode ends by itself
(`[bands] test_mode_minutes`): a technician who forgets to stop it must not leave a resident's
real alarms reaching nobody but the console.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry.band_events import record_event
from registry.band_lifecycle import check_not_retired, get_band
from registry.errors import Conflict
from registry.model import Band, BandEventType, BandTestResult


def in_test_mode(band: Band, at: datetime) -> bool:
    return band.test_mode_until is not None and at < band.test_mode_until


async def start_test_mode(
    session: AsyncSession, clock: Clock, *, band_id: int, minutes: int, staff_id: int | None = None
) -> Band:
    """Test mode from now for `minutes` (started again, the time starts again)."""
    band = await get_band(session, band_id=band_id)
    check_not_retired(band)
    if band.secret_hash is None:
        raise Conflict(
            field="band_id", message=f"opaska {band.serial} nie ma danych logowania: najpierw wydaj je (reissue)"
        )
    band.test_mode_until = clock.now() + timedelta(minutes=minutes)
    band.test_mode_started_by = staff_id
    await session.flush()
    await record_event(
        session,
        clock,
        band_id=band.id,
        type=BandEventType.TEST_STARTED,
        resident_id=band.resident_id,
        staff_id=staff_id,
        note=f"do {band.test_mode_until.isoformat(timespec='seconds')}",
    )
    return band


async def stop_test_mode(session: AsyncSession, clock: Clock, *, band_id: int, staff_id: int | None = None) -> Band:
    band = await get_band(session, band_id=band_id)
    was_on = in_test_mode(band, clock.now())
    band.test_mode_until = None
    band.test_mode_started_by = None
    await session.flush()
    if was_on:
        await record_event(
            session,
            clock,
            band_id=band.id,
            type=BandEventType.TEST_STOPPED,
            resident_id=band.resident_id,
            staff_id=staff_id,
        )
    return band


async def record_test_result(
    session: AsyncSession,
    *,
    band: Band,
    alarm_id: int,
    kind: str,
    pressed_at: datetime | None,
    clock_believable: bool,
    received_at: datetime,
    pass_latency_ms: int,
) -> BandTestResult:
    """Called by the gateway in the transaction that stores the test alarm: stored is half of
    passing, arriving within `pass_latency_ms` of the press is the other."""
    latency_ms: int | None = None
    if pressed_at is not None and clock_believable:
        latency_ms = round((received_at - pressed_at).total_seconds() * 1000)
    if latency_ms is None:
        passed, note = False, "brak wiarygodnego czasu naciśnięcia z zegara opaski: sprawdź datę i godzinę opaski"
    elif latency_ms > pass_latency_ms:
        passed, note = False, f"alarm dotarł po {latency_ms} ms (limit {pass_latency_ms} ms): sprawdź zasięg"
    else:
        # A band clock a little ahead gives a small negative latency: still within the limit.
        passed, note = True, ""
    result = BandTestResult(
        band_id=band.id,
        alarm_id=alarm_id,
        resident_id=band.resident_id,
        kind=kind,
        pressed_at=pressed_at,
        received_at=received_at,
        latency_ms=latency_ms,
        passed=passed,
        note=note,
        technician_id=band.test_mode_started_by,
    )
    session.add(result)
    await session.flush()
    return result


async def band_test_results(session: AsyncSession, *, band_id: int, limit: int = 50) -> list[BandTestResult]:
    """The band's test results, newest first."""
    return list(
        (
            await session.execute(
                select(BandTestResult)
                .where(BandTestResult.band_id == band_id)
                .order_by(BandTestResult.id.desc())
                .limit(limit)
            )
        ).scalars()
    )


async def bands_in_test_mode(session: AsyncSession, *, now: datetime) -> list[Band]:
    """Bands whose test mode has not ended yet (few at any time: the visits in progress)."""
    return list(
        (await session.execute(select(Band).where(Band.test_mode_until > now).order_by(Band.test_mode_until))).scalars()
    )


async def results_for_alarms(session: AsyncSession, alarm_ids: list[int]) -> dict[int, BandTestResult]:
    """The test result of each of these test alarms (one per alarm: the gateway records it when it
    raises the alarm), by alarm id."""
    if not alarm_ids:
        return {}
    rows = await session.execute(select(BandTestResult).where(BandTestResult.alarm_id.in_(alarm_ids)))
    return {result.alarm_id: result for result in rows.scalars() if result.alarm_id is not None}
