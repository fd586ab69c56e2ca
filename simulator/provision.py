"""Bulk provisioning: N simulated bands, each bound to a resident of its own, in one transaction.

`registry.service.register_band` flushes one band at a time; 10,000 of those are 20,000 round trips.
Here residents and bands go in as two multi-row INSERTs. The secrets are hashed exactly as the
registry hashes them (`hash_band_secret`, Mosquitto's `$7$`, 101 rounds): about 0.14 ms each, 1.4 s
for 10,000 bands, so simulated fleets need no cheaper hash.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from registry import service
from registry.credentials import hash_band_secret, new_band_secret
from registry.model import Band, BandStatus, Resident
from simulator.fleet import BandCredentials

CHUNK = 1000


@dataclass(frozen=True)
class ProvisionedFleet:
    credentials: list[BandCredentials]
    # serial -> the `$7$` hash stored in the registry (what Mosquitto's password file holds)
    hashes: dict[str, str]
    municipality_id: int


def simulated_serials(count: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(1, count + 1)]


async def provision_fleet(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, count: int, prefix: str = "SIM"
) -> ProvisionedFleet:
    """Register `count` bands (serials `{prefix}-000001`...), each with a resident, in a new municipality."""
    serials = simulated_serials(count, prefix)
    credentials = [BandCredentials(serial, new_band_secret()) for serial in serials]
    hashes = {c.serial: hash_band_secret(c.secret) for c in credentials}
    now = clock.now()
    async with sessions() as session, session.begin():
        municipality = await service.create_municipality(
            session, clock, code=f"sim-{uuid.uuid4().hex[:8]}", name=f"Gmina Symulowana {prefix}"
        )
        for start in range(0, count, CHUNK):
            chunk = credentials[start : start + CHUNK]
            resident_ids = (
                await session.scalars(
                    insert(Resident).returning(Resident.id, sort_by_parameter_order=True),
                    [
                        {
                            "municipality_id": municipality.id,
                            "first_name": "Symulowany",
                            "last_name": c.serial,
                            "address": "",
                            "access_notes": "",
                            "medical_notes": "",
                            "language": "pl",
                            "active": True,
                            "created_at": now,
                        }
                        for c in chunk
                    ],
                )
            ).all()
            await session.execute(
                insert(Band),
                [
                    {
                        "serial": c.serial,
                        "model": "simulator",
                        "firmware": "",
                        "status": BandStatus.ACTIVE,
                        "resident_id": resident_id,
                        "secret_hash": hashes[c.serial],
                        "created_at": now,
                    }
                    for c, resident_id in zip(chunk, resident_ids, strict=True)
                ],
            )
    return ProvisionedFleet(credentials, hashes, municipality.id)


async def registered(sessions: async_sessionmaker[AsyncSession], serials: Sequence[str]) -> set[str]:
    async with sessions() as session:
        found: set[str] = set()
        for start in range(0, len(serials), CHUNK):
            chunk = list(serials[start : start + CHUNK])
            found.update((await session.scalars(select(Band.serial).where(Band.serial.in_(chunk)))).all())
        return found


def write_secrets(path: Path, credentials: Sequence[BandCredentials]) -> None:
    """`serial<TAB>secret` lines, readable by the owner only (they are the bands' passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{c.serial}\t{c.secret}\n" for c in credentials)


def read_secrets(path: Path) -> list[BandCredentials]:
    credentials = []
    for line in path.read_text().splitlines():
        serial, _, secret = line.partition("\t")
        if serial and secret:
            credentials.append(BandCredentials(serial, secret))
    return credentials
