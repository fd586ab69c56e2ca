"""Residents: who wears a band, where they live, and how to get in."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry import validation
from registry.band_lifecycle import unbind_band
from registry.errors import NotFound, RegistryError
from registry.model import Band, BandStatus, Municipality, Resident, ResidentDataAccess

# Fields `update_resident` may change, and how each is checked.
_TEXT_LIMITS = {"first_name": 100, "last_name": 100}
_NOTES = ("access_notes", "medical_notes")


async def create_resident(
    session: AsyncSession,
    clock: Clock,
    *,
    municipality_id: int,
    first_name: str,
    last_name: str,
    address: str = "",
    birth_date: date | None = None,
    sex: str | None = None,
    phone: str | None = None,
    access_notes: str = "",
    medical_notes: str = "",
    language: str = "pl",
) -> Resident:
    if await session.get(Municipality, municipality_id) is None:
        raise NotFound(field="municipality_id", message=f"nie ma gminy o id {municipality_id}")
    resident = Resident(
        municipality_id=municipality_id,
        first_name=validation.required_text(first_name, field="first_name", max_length=100),
        last_name=validation.required_text(last_name, field="last_name", max_length=100),
        address=validation.optional_text(address, field="address", max_length=300),
        birth_date=validation.birth_date(birth_date, today=clock.now().date()),
        sex=validation.sex(sex),
        phone=validation.optional_phone(phone),
        access_notes=access_notes,
        medical_notes=medical_notes,
        language=validation.language(language),
        active=True,
        created_at=clock.now(),
    )
    session.add(resident)
    await session.flush()
    return resident


async def get_resident(session: AsyncSession, *, resident_id: int) -> Resident:
    resident = await session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(field="resident_id", message=f"nie ma mieszkańca o id {resident_id}")
    return resident


async def list_residents(
    session: AsyncSession,
    *,
    municipality_id: int | None = None,
    municipality_ids: Collection[int] | None = None,
    include_inactive: bool = False,
) -> list[Resident]:
    """Residents by name; `municipality_ids` limits them to a staff member's municipalities."""
    query = select(Resident).order_by(Resident.last_name, Resident.first_name, Resident.id)
    if municipality_id is not None:
        query = query.where(Resident.municipality_id == municipality_id)
    if municipality_ids is not None:
        query = query.where(Resident.municipality_id.in_(list(municipality_ids)))
    if not include_inactive:
        query = query.where(Resident.active.is_(True))
    return list((await session.execute(query)).scalars())


async def update_resident(session: AsyncSession, clock: Clock, *, resident_id: int, **changes: Any) -> Resident:
    """Change the given fields (first_name, last_name, address, birth_date, sex, phone, access_notes,
    medical_notes, language); anything else is refused, so a typo cannot pass silently."""
    resident = await get_resident(session, resident_id=resident_id)
    for name, value in changes.items():
        if name == "address":
            resident.address = validation.optional_text(value, field=name, max_length=300)
        elif name in _TEXT_LIMITS:
            setattr(resident, name, validation.required_text(value, field=name, max_length=_TEXT_LIMITS[name]))
        elif name in _NOTES:
            setattr(resident, name, str(value))
        elif name == "birth_date":
            resident.birth_date = validation.birth_date(value, today=clock.now().date())
        elif name == "sex":
            resident.sex = validation.sex(value)
        elif name == "phone":
            resident.phone = validation.optional_phone(value)
        elif name == "language":
            resident.language = validation.language(value)
        else:
            raise RegistryError(field=name, message="tego pola nie można zmienić")
    await session.flush()
    return resident


async def read_medical_notes(session: AsyncSession, clock: Clock, *, resident_id: int, staff_id: int | None) -> str:
    """The resident's medical notes, with the reading recorded (who, when) in the same transaction."""
    resident = await get_resident(session, resident_id=resident_id)
    session.add(ResidentDataAccess(resident_id=resident.id, staff_id=staff_id, at=clock.now(), what="medical_notes"))
    await session.flush()
    return resident.medical_notes


async def deactivate_resident(
    session: AsyncSession, clock: Clock, *, resident_id: int, staff_id: int | None = None
) -> Resident:
    """The resident leaves the programme: inactive, and a band still bound to them is unbound.

    Their data stays until erased (`alarm_center.gdpr.erase_resident`); the band goes back to stock.
    """
    resident = await get_resident(session, resident_id=resident_id)
    resident.active = False
    bound = (
        (
            await session.execute(
                select(Band.id).where(Band.resident_id == resident_id, Band.status == BandStatus.ACTIVE)
            )
        )
        .scalars()
        .all()
    )
    for band_id in bound:
        await unbind_band(session, clock, band_id=band_id, staff_id=staff_id)
    await session.flush()
    return resident
