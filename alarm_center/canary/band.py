"""The canary band: a registry band of the platform's own, bound to nobody, in no municipality.

Its secret is made afresh by the console that runs the canary, at each start, and only its hash is
stored (like any band's): the brokers admit it once their credentials catch up (the embedded
broker's cache and Mosquitto's password file are renewed within seconds).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.credentials import hash_band_secret
from registry.model import Band, BandStatus

SERIAL = "OPASKA-CANARY"


class SerialTaken(Exception):
    """A real band already has the canary's serial."""


async def ensure_canary_band(session: AsyncSession, *, secret: str, now: datetime) -> int:
    """The canary band's id, made if missing, with `secret` as its secret from now on. Does not commit."""
    band = (await session.execute(select(Band).where(Band.serial == SERIAL))).scalar_one_or_none()
    if band is not None and not band.is_canary:
        raise SerialTaken(f"band {SERIAL} in the registry is not the platform's canary band")
    if band is None:
        band = Band(serial=SERIAL, model="opaska canary", created_at=now, is_canary=True)
        session.add(band)
    band.status = BandStatus.ACTIVE.value
    band.resident_id = None
    band.secret_hash = hash_band_secret(secret)
    band.credentials_revoked_at = None
    await session.flush()
    return band.id
