"""Registry data for tests, through the same service functions the platform uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from registry import service


@dataclass(frozen=True)
class SeededBand:
    serial: str
    secret: str
    band_id: int
    resident_id: int
    municipality_id: int
    resident_name: str


async def seed_resident_with_band(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    first_name: str = "Helena",
    last_name: str = "Kowalska",
    serial: str | None = None,
) -> SeededBand:
    serial = serial or f"B-{uuid.uuid4().hex[:8]}"
    async with sessions() as session, session.begin():
        municipality = await service.create_municipality(
            session, clock, code=f"m-{uuid.uuid4().hex[:6]}", name="Gmina Testowa"
        )
        resident = await service.create_resident(
            session,
            clock,
            municipality_id=municipality.id,
            first_name=first_name,
            last_name=last_name,
            address="ul. Legnicka 12/4, Wrocław",
        )
        await service.add_contact(
            session, clock, resident_id=resident.id, name="Anna Kowalska", phone="601 234 567", priority=1
        )
        registered = await service.register_band(session, clock, serial=serial, model="test", resident_id=resident.id)
        return SeededBand(
            serial, registered.secret, registered.band.id, resident.id, municipality.id, f"{first_name} {last_name}"
        )
