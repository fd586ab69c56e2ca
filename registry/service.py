"""Registry operations. Each takes the caller's session and does not commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.topics import is_valid_band_id
from opaska.clock import Clock
from registry.credentials import hash_band_secret, new_band_secret
from registry.model import Band, BandStatus, Contact, Municipality, Resident
from registry.phones import to_e164


class RegistryError(ValueError):
    """Bad registry input; the message names the field."""


async def create_municipality(session: AsyncSession, clock: Clock, *, code: str, name: str) -> Municipality:
    municipality = Municipality(code=code, name=name, timezone="Europe/Warsaw", created_at=clock.now())
    session.add(municipality)
    await session.flush()
    return municipality


async def create_resident(
    session: AsyncSession,
    clock: Clock,
    *,
    municipality_id: int,
    first_name: str,
    last_name: str,
    address: str = "",
    birth_date: date | None = None,
    access_notes: str = "",
    medical_notes: str = "",
    language: str = "pl",
) -> Resident:
    resident = Resident(
        municipality_id=municipality_id,
        first_name=first_name,
        last_name=last_name,
        address=address,
        birth_date=birth_date,
        access_notes=access_notes,
        medical_notes=medical_notes,
        language=language,
        active=True,
        created_at=clock.now(),
    )
    session.add(resident)
    await session.flush()
    return resident


async def add_contact(
    session: AsyncSession,
    clock: Clock,
    *,
    resident_id: int,
    name: str,
    phone: str,
    priority: int,
    relation: str = "",
    language: str = "pl",
    has_key: bool = False,
) -> Contact:
    try:
        e164 = to_e164(phone)
    except ValueError as exc:
        raise RegistryError(f"phone: {exc}") from None
    contact = Contact(
        resident_id=resident_id,
        name=name,
        phone=e164,
        priority=priority,
        relation=relation,
        language=language,
        has_key=has_key,
        created_at=clock.now(),
    )
    session.add(contact)
    await session.flush()
    return contact


@dataclass(frozen=True)
class RegisteredBand:
    band: Band
    # Shown once to the technician; only its hash is stored.
    secret: str


async def register_band(
    session: AsyncSession,
    clock: Clock,
    *,
    serial: str,
    model: str = "",
    resident_id: int | None = None,
    secret: str | None = None,
) -> RegisteredBand:
    if not is_valid_band_id(serial):
        raise RegistryError("serial: 1-64 printable characters, without '+', '#', '/' or ':'")
    secret = secret or new_band_secret()
    band = Band(
        serial=serial,
        model=model,
        firmware="",
        status=BandStatus.ACTIVE if resident_id is not None else BandStatus.STOCK,
        resident_id=resident_id,
        secret_hash=hash_band_secret(secret),
        created_at=clock.now(),
    )
    session.add(band)
    await session.flush()
    return RegisteredBand(band, secret)
