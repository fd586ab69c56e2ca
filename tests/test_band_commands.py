"""`opaska band …` as a technician runs it: config and locate reach the downlink outbox."""

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from registry.model import Band
from registry.traffic.downlinks import BandDownlink
from tests.support.processes import run_opaska_command
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


async def test_config_locate_and_rejects(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, database_url: str
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    configured = await run_opaska_command(database_url, "band", "config", seeded.serial, "--heartbeat-interval", "120")
    assert configured.returncode == 0, configured.stderr
    located = await run_opaska_command(database_url, "band", "locate", seeded.serial)
    assert located.returncode == 0, located.stderr
    async with sessions() as session:
        band = (await session.execute(select(Band).where(Band.id == seeded.band_id))).scalar_one()
        outbox = (await session.execute(select(BandDownlink).order_by(BandDownlink.id))).scalars().all()
    assert band.heartbeat_interval_s == 120
    assert [(row.kind, row.retain) for row in outbox] == [("config", True), ("locate", False)]
    assert outbox[0].payload["heartbeat_interval_s"] == 120
    assert outbox[1].payload["request_id"] in located.stdout

    rejects = await run_opaska_command(database_url, "band", "rejects", seeded.serial)
    assert rejects.stdout.strip() == "brak odrzuconych wiadomości"

    # Bad input: exit 2, in the command line's language.
    unknown = await run_opaska_command(database_url, "band", "locate", "NO-SUCH-BAND")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == "opaska: nie ma zarejestrowanej opaski 'NO-SUCH-BAND'"
    unknown = await run_opaska_command(database_url, "--lang", "en", "band", "locate", "NO-SUCH-BAND")
    assert unknown.stderr.strip().splitlines()[-1] == "opaska: no band 'NO-SUCH-BAND' is registered"
    too_fast = await run_opaska_command(database_url, "band", "config", seeded.serial, "--heartbeat-interval", "1")
    assert too_fast.returncode == 2
    assert "--heartbeat-interval" in too_fast.stderr
