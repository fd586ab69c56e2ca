"""A band's serial is its MQTT username and a topic level: one that could escape either is refused."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from registry import service
from registry.credentials import verify_band_secret

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("serial", ["a+b", "band#1", "gmina/1", "user:hash", ""])
async def test_unsafe_serials_are_refused(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, serial: str
) -> None:
    async with sessions() as session, session.begin():
        with pytest.raises(service.RegistryError, match="serial"):
            await service.register_band(session, clock, serial=serial)


async def test_registration_issues_a_secret_stored_only_hashed(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        registered = await service.register_band(session, clock, serial="OP-2026-000001")
    assert registered.band.secret_hash is not None
    assert registered.secret not in registered.band.secret_hash
    assert registered.band.secret_hash.startswith("$7$")
    assert verify_band_secret(registered.secret, registered.band.secret_hash)
    assert not verify_band_secret(registered.secret + "x", registered.band.secret_hash)
