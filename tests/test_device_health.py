"""Device health: bands offline, not worn, low on battery, never connected or with many rejected
messages, by municipality, with last seen and battery; CSV for Polish Excel."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.settings import BandSettings
from registry import bands, residents
from registry.health import Problem, device_health, health_csv
from registry.model import Band
from registry.traffic.dead_letters import DeadLetter
from tests.support.processes import run_opaska_command
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio

SETTINGS = BandSettings(heartbeat_interval_s=300, offline_after_missed=3, battery_low_pct=20, not_worn_after_s=1800)


async def test_device_health_lists_what_needs_a_technician(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, tmp_path: Path, database_url: str
) -> None:
    now = clock.now()
    healthy = await seed_resident_with_band(sessions, clock, first_name="Zdzisław", serial="H-OK")
    silent = await seed_resident_with_band(sessions, clock, first_name="Łucja", serial="H-SILENT")
    unworn = await seed_resident_with_band(sessions, clock, first_name="Żaneta", serial="H-UNWORN")
    flat = await seed_resident_with_band(sessions, clock, first_name="=HYPERLINK(1)", serial="H-FLAT")
    await seed_resident_with_band(sessions, clock, first_name="Ignacy", serial="H-NEVER")
    noisy = await seed_resident_with_band(sessions, clock, first_name="Jan", serial="H-NOISY")
    fresh = {"last_seen_at": now - timedelta(minutes=1), "online": True, "worn": True, "battery_pct": 80}
    async with sessions() as session, session.begin():
        for seeded in (healthy, unworn, flat, noisy):
            await session.execute(update(Band).where(Band.id == seeded.band_id).values(**fresh))
        await session.execute(
            update(Band).where(Band.id == silent.band_id).values(**{**fresh, "last_seen_at": now - timedelta(hours=1)})
        )
        await session.execute(
            update(Band).where(Band.id == unworn.band_id).values(worn=False, unworn_since=now - timedelta(hours=2))
        )
        await session.execute(update(Band).where(Band.id == flat.band_id).values(battery_pct=12, charging=False))
        rejected = {"topic": "t", "kind": "heartbeat", "reason": "invalid", "detail": "", "payload": "{}"}
        await session.execute(
            insert(DeadLetter),
            [{**rejected, "band_serial": "H-NOISY", "received_at": now - timedelta(hours=1)} for _ in range(10)]
            + [{**rejected, "band_serial": "H-OK", "received_at": now - timedelta(hours=1)} for _ in range(9)]
            + [{**rejected, "band_serial": "H-OK", "received_at": now - timedelta(hours=25)} for _ in range(5)],
        )
        await bands.register_band(session, clock, serial="H-STOCK")  # in stock: never connected is no news

        rows = await device_health(session, now=now, settings=SETTINGS)
        by_serial = {row.serial: row for row in rows}
        assert set(by_serial) == {"H-SILENT", "H-UNWORN", "H-FLAT", "H-NEVER", "H-NOISY"}
        assert by_serial["H-SILENT"].problems == [Problem.OFFLINE]
        assert by_serial["H-SILENT"].last_seen_at == now - timedelta(hours=1)
        assert by_serial["H-UNWORN"].problems == [Problem.NOT_WORN]
        assert by_serial["H-FLAT"].problems == [Problem.BATTERY_LOW]
        assert by_serial["H-FLAT"].battery_pct == 12
        assert by_serial["H-NEVER"].problems == [Problem.NEVER_CONNECTED]
        assert (by_serial["H-NOISY"].problems, by_serial["H-NOISY"].rejects_24h) == ([Problem.MANY_REJECTS], 10)
        everything = await device_health(session, now=now, settings=SETTINGS, only_problems=False)
        assert {row.serial for row in everything} == {*by_serial, "H-OK", "H-STOCK"}
        only_one = await device_health(session, now=now, settings=SETTINGS, municipality_id=silent.municipality_id)
        assert [row.serial for row in only_one] == ["H-SILENT"]
        # A staff member's municipalities, as the console scopes them.
        scoped = await device_health(
            session, now=now, settings=SETTINGS, municipality_ids=[silent.municipality_id, flat.municipality_id]
        )
        assert {row.serial for row in scoped} == {"H-SILENT", "H-FLAT"}
        listed = await bands.list_bands(session, municipality_ids=[flat.municipality_id])
        assert [band.serial for band in listed] == ["H-FLAT"]
        people = await residents.list_residents(session, municipality_ids=[unworn.municipality_id])
        assert [person.first_name for person in people] == ["Żaneta"]

    data = health_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:5] == ["numer_opaski", "imei", "model", "gmina", "mieszkaniec"]
    lines = {line[0]: line for line in table[1:]}
    assert lines["H-UNWORN"][4] == "Żaneta Kowalska"
    assert lines["H-UNWORN"][5] == "nienoszona"
    assert lines["H-FLAT"][4] == "'=HYPERLINK(1) Kowalska"  # stays text in Excel
    assert lines["H-FLAT"][7] == "12"
    assert b"\r\n" in data

    target = tmp_path / "zdrowie.csv"
    written = await run_opaska_command(database_url, "band", "health", "--csv", str(target))
    assert written.returncode == 0, written.stderr
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    printed = await run_opaska_command(database_url, "band", "health")
    assert "H-SILENT" in printed.stdout
    assert "brak łączności" in printed.stdout
    unknown = await run_opaska_command(database_url, "band", "health", "--municipality", "nowhere")
    assert unknown.returncode == 2
