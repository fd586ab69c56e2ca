"""A band's life after registration: looking it up, binding it to a resident, unbinding, swapping
a broken one for one from stock, and retiring it for good.

Each change writes a `BandEvent` (`band_events.record_event`), so the history survives swaps.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry import validation
from registry.band_events import record_event
from registry.errors import Conflict, NotFound, RegistryError
from registry.model import Band, BandEventType, BandStatus, Resident


@dataclass(frozen=True)
class Swap:
    old: Band
    new: Band


async def get_band(session: AsyncSession, *, band_id: int) -> Band:
    band = await session.get(Band, band_id)
    if band is None:
        raise NotFound(field="band_id", message=f"nie ma opaski o id {band_id}")
    return band


async def find_band(session: AsyncSession, *, serial_or_imei: str) -> Band:
    """A band by its serial, or by its IMEI."""
    key = serial_or_imei.strip()
    band = (
        await session.execute(select(Band).where(or_(Band.serial == key, Band.imei == key)).order_by(Band.id).limit(1))
    ).scalar_one_or_none()
    if band is None:
        raise NotFound(field="serial", message=f"nie ma opaski o numerze ani IMEI {key!r}")
    return band


async def replacement_band(session: AsyncSession, *, band_id: int | None, serial_or_imei: str | None) -> Band:
    """The band a swap brings in: by its id, or else by its serial or IMEI."""
    if band_id is None:
        return await find_band(session, serial_or_imei=serial_or_imei or "")
    band = await session.get(Band, band_id)
    if band is None:
        raise NotFound(field="new_band_id", message=f"nie ma opaski o id {band_id}")
    return band


async def list_bands(
    session: AsyncSession,
    *,
    municipality_id: int | None = None,
    municipality_ids: Collection[int] | None = None,
    status: BandStatus | None = None,
) -> list[Band]:
    """Bands by serial; with a municipality (or several), only bands bound to residents there."""
    query = select(Band).order_by(Band.serial)
    if municipality_id is not None or municipality_ids is not None:
        query = query.join(Resident, Resident.id == Band.resident_id)
    if municipality_id is not None:
        query = query.where(Resident.municipality_id == municipality_id)
    if municipality_ids is not None:
        query = query.where(Resident.municipality_id.in_(list(municipality_ids)))
    if status is not None:
        query = query.where(Band.status == status.value)
    return list((await session.execute(query)).scalars())


async def update_band(
    session: AsyncSession,
    *,
    band_id: int,
    model: str | None = None,
    firmware: str | None = None,
    sim_phone: str | None = None,
) -> Band:
    """Change what was given; `sim_phone=""` removes the SIM's number."""
    band = await get_band(session, band_id=band_id)
    if model is not None:
        band.model = validation.optional_text(model, field="model", max_length=100)
    if firmware is not None:
        band.firmware = validation.optional_text(firmware, field="firmware", max_length=50)
    if sim_phone is not None:
        band.sim_phone = validation.optional_phone(sim_phone, field="sim_phone")
    await session.flush()
    return band


def check_not_retired(band: Band) -> None:
    """Conflict for a retired band: nothing may change it any more."""
    if band.status == BandStatus.RETIRED:
        raise Conflict(field="band_id", message=f"opaska {band.serial} jest wycofana z użytku")


async def bind_band(
    session: AsyncSession, clock: Clock, *, band_id: int, resident_id: int, staff_id: int | None = None
) -> Band:
    """Give the band to the resident. Conflict if it is bound to someone else or retired."""
    band = await get_band(session, band_id=band_id)
    check_not_retired(band)
    if band.resident_id == resident_id and band.status == BandStatus.ACTIVE:
        return band
    if band.resident_id is not None:
        raise Conflict(
            field="band_id",
            message=f"opaska {band.serial} jest przypisana do innego mieszkańca (id {band.resident_id}); "
            "najpierw ją odepnij albo użyj wymiany",
        )
    resident = await session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(field="resident_id", message=f"nie ma mieszkańca o id {resident_id}")
    if not resident.active:
        raise Conflict(field="resident_id", message="mieszkaniec nie uczestniczy już w programie")
    band.resident_id = resident_id
    band.status = BandStatus.ACTIVE
    await session.flush()
    await record_event(
        session, clock, band_id=band.id, type=BandEventType.BOUND, resident_id=resident_id, staff_id=staff_id
    )
    return band


async def unbind_band(session: AsyncSession, clock: Clock, *, band_id: int, staff_id: int | None = None) -> Band:
    """Take the band back into stock (e.g. the resident left); its alarms keep their resident."""
    band = await get_band(session, band_id=band_id)
    check_not_retired(band)
    if band.resident_id is None:
        return band
    resident_id = band.resident_id
    band.resident_id = None
    band.status = BandStatus.STOCK
    band.test_mode_until = None
    await session.flush()
    await record_event(
        session, clock, band_id=band.id, type=BandEventType.UNBOUND, resident_id=resident_id, staff_id=staff_id
    )
    return band


def _retire(band: Band) -> None:
    # A retired band can never connect again: no broker may admit it (credential_store skips
    # retired bands too; clearing the hash makes that true even if the status is ever changed).
    band.status = BandStatus.RETIRED
    band.resident_id = None
    band.secret_hash = None
    band.test_mode_until = None


async def swap_band(
    session: AsyncSession,
    clock: Clock,
    *,
    old_band_id: int,
    new_band_id: int,
    staff_id: int | None = None,
    note: str = "",
) -> Swap:
    """Replace a resident's broken band: the old one is retired, the new one (from stock) bound to
    the same resident. Both keep their history; the old band's alarms keep their band_id."""
    old = await get_band(session, band_id=old_band_id)
    new = await get_band(session, band_id=new_band_id)
    if old.id == new.id:
        raise RegistryError(field="new_band_id", message="nowa opaska musi być inna niż wymieniana")
    check_not_retired(old)
    if old.resident_id is None:
        raise Conflict(field="old_band_id", message=f"opaska {old.serial} nie jest przypisana do nikogo")
    check_not_retired(new)
    if new.resident_id is not None:
        raise Conflict(
            field="new_band_id",
            message=f"opaska {new.serial} jest przypisana do innego mieszkańca (id {new.resident_id})",
        )
    resident_id = old.resident_id
    _retire(old)
    new.resident_id = resident_id
    new.status = BandStatus.ACTIVE
    await session.flush()
    await record_event(
        session,
        clock,
        band_id=old.id,
        type=BandEventType.SWAPPED_OUT,
        resident_id=resident_id,
        other_band_id=new.id,
        staff_id=staff_id,
        note=note,
    )
    await record_event(
        session,
        clock,
        band_id=new.id,
        type=BandEventType.SWAPPED_IN,
        resident_id=resident_id,
        other_band_id=old.id,
        staff_id=staff_id,
        note=note,
    )
    return Swap(old=old, new=new)


async def decommission_band(
    session: AsyncSession, clock: Clock, *, band_id: int, staff_id: int | None = None, note: str = ""
) -> Band:
    """Retire the band for good (lost, broken): unbound, its credentials revoked, history kept."""
    band = await get_band(session, band_id=band_id)
    check_not_retired(band)
    resident_id = band.resident_id
    _retire(band)
    await session.flush()
    await record_event(
        session,
        clock,
        band_id=band.id,
        type=BandEventType.DECOMMISSIONED,
        resident_id=resident_id,
        staff_id=staff_id,
        note=note,
    )
    return band
