"""Finding bands for the console: where each belongs, who wears it, and the names a band's history
shows.

A band belongs to its resident's municipality; unbound, to the municipality of the last resident
who wore it; a band never given to anyone is shared stock (no municipality). Scoping by that
municipality is the caller's; these only read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.model import Band, BandEvent, Resident, StaffUser


@dataclass(frozen=True)
class ListedBand:
    band: Band
    # Where the band belongs (see the module's docstring); None for shared stock.
    municipality_id: int | None
    resident_name: str | None


async def band_municipality(session: AsyncSession, band: Band) -> int | None:
    """Where one band belongs: its resident's municipality, or its last resident's, or None."""
    resident_id = band.resident_id
    if resident_id is None:
        resident_id = (
            await session.execute(
                select(BandEvent.resident_id)
                .where(BandEvent.band_id == band.id, BandEvent.resident_id.is_not(None))
                .order_by(BandEvent.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    if resident_id is None:
        return None
    return (await session.execute(select(Resident.municipality_id).where(Resident.id == resident_id))).scalar_one()


async def band_municipalities(session: AsyncSession, found: Collection[Band]) -> dict[int, int | None]:
    """Each band's municipality (as `band_municipality`), with two queries for the lot."""
    resident_of: dict[int, int | None] = {band.id: band.resident_id for band in found}
    unbound = [band.id for band in found if band.resident_id is None]
    if unbound:
        rows = await session.execute(
            select(BandEvent.band_id, BandEvent.resident_id)
            .where(BandEvent.band_id.in_(unbound), BandEvent.resident_id.is_not(None))
            .order_by(BandEvent.id)
        )
        for band_id, resident_id in rows:
            resident_of[band_id] = resident_id  # the last one wins
    resident_ids = {r for r in resident_of.values() if r is not None}
    municipality_of = {
        resident_id: municipality_id
        for resident_id, municipality_id in await session.execute(
            select(Resident.id, Resident.municipality_id).where(Resident.id.in_(resident_ids))
        )
    }
    return {band_id: municipality_of.get(r) if r is not None else None for band_id, r in resident_of.items()}


async def resident_names(session: AsyncSession, resident_ids: Collection[int]) -> dict[int, str]:
    """ "First Last" of each resident."""
    return {
        resident_id: f"{first} {last}"
        for resident_id, first, last in await session.execute(
            select(Resident.id, Resident.first_name, Resident.last_name).where(Resident.id.in_(list(resident_ids)))
        )
    }


async def wearer_name(session: AsyncSession, band: Band) -> str | None:
    """The name of the resident wearing the band, if anyone does."""
    if band.resident_id is None:
        return None
    resident = await session.get(Resident, band.resident_id)
    return f"{resident.first_name} {resident.last_name}" if resident is not None else None


async def search_bands(session: AsyncSession, *, status: str | None = None, text: str = "") -> list[ListedBand]:
    """Every band by serial, with where it belongs and who wears it; narrowed to a status and to
    a part of the serial (any case) or IMEI."""
    query = select(Band).order_by(Band.serial)
    if status is not None:
        query = query.where(Band.status == status)
    needle = text.strip().casefold()
    found = [
        band
        for band in (await session.execute(query)).scalars()
        if not needle or needle in band.serial.casefold() or needle in (band.imei or "")
    ]
    where = await band_municipalities(session, found)
    names = await resident_names(session, {band.resident_id for band in found if band.resident_id is not None})
    return [
        ListedBand(band, where[band.id], names.get(band.resident_id) if band.resident_id is not None else None)
        for band in found
    ]


async def bands_worn_by(session: AsyncSession, *, resident_id: int) -> list[Band]:
    """The bands bound to the resident, by serial."""
    query = select(Band).where(Band.resident_id == resident_id).order_by(Band.serial)
    return list((await session.execute(query)).scalars())


async def worn_serials(session: AsyncSession, resident_ids: Collection[int]) -> dict[int, list[str]]:
    """The serials of the bands bound to each resident, in order."""
    worn: dict[int, list[str]] = {}
    rows = await session.execute(
        select(Band.resident_id, Band.serial).where(Band.resident_id.in_(list(resident_ids))).order_by(Band.serial)
    )
    for resident_id, serial in rows:
        if resident_id is not None:
            worn.setdefault(resident_id, []).append(serial)
    return worn


async def band_serials(session: AsyncSession, band_ids: Collection[int]) -> dict[int, str]:
    return {
        band_id: serial
        for band_id, serial in await session.execute(select(Band.id, Band.serial).where(Band.id.in_(list(band_ids))))
    }


async def staff_names(session: AsyncSession, staff_ids: Collection[int]) -> dict[int, str]:
    return {
        staff_id: name
        for staff_id, name in await session.execute(
            select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(list(staff_ids)))
        )
    }
