"""Bands: registration (serial or IMEI), credentials, binding to a resident, swap, decommission.

Every change of who wears a band, or of its credentials, writes a `BandEvent`, so a band's and a
resident's history survive swaps. A band's credentials are what every broker reads (the embedded
one and the EMQX hook through `gateway.broker.credential_store`, Mosquitto through the files the
gateway re-renders from it): clearing `secret_hash` is what makes all three refuse the band.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry import validation
from registry.credentials import hash_band_secret, new_band_secret
from registry.errors import Conflict, Duplicate, NotFound, RegistryError
from registry.identifiers import check_device_id, check_serial, normalise_imei
from registry.model import Band, BandAdapter, BandEvent, BandEventType, BandStatus, Resident


@dataclass(frozen=True)
class RegisteredBand:
    band: Band
    # Shown once to the technician; only its hash is stored. Empty for a band that never logs in
    # to MQTT (Traccar or watch-protocol bands reach us through their adapter).
    secret: str


@dataclass(frozen=True)
class Swap:
    old: Band
    new: Band


async def record_event(
    session: AsyncSession,
    clock: Clock,
    *,
    band_id: int,
    type: BandEventType,
    resident_id: int | None = None,
    other_band_id: int | None = None,
    staff_id: int | None = None,
    note: str = "",
) -> BandEvent:
    event = BandEvent(
        band_id=band_id,
        at=clock.now(),
        type=type.value,
        resident_id=resident_id,
        other_band_id=other_band_id,
        staff_id=staff_id,
        note=note[:300],
    )
    session.add(event)
    await session.flush()
    return event


async def _check_new_identity(session: AsyncSession, *, serial: str, imei: str | None) -> None:
    clauses = [Band.serial == serial, Band.imei == serial]
    if imei is not None:
        clauses += [Band.imei == imei, Band.serial == imei]
    clash = (await session.execute(select(Band.serial, Band.imei).where(or_(*clauses)).limit(1))).first()
    if clash is None:
        return
    if imei is not None and imei in (clash.serial, clash.imei):
        raise Duplicate(field="imei", message=f"opaska o IMEI {imei} jest już zarejestrowana (numer {clash.serial})")
    raise Duplicate(field="serial", message=f"opaska o numerze {serial} jest już zarejestrowana")


async def _check_device_identity(session: AsyncSession, *, adapter: str, device_id: str | None) -> None:
    if device_id is None:
        return
    clash = (
        await session.execute(select(Band.serial).where(Band.adapter == adapter, Band.device_id == device_id).limit(1))
    ).scalar_one_or_none()
    if clash is not None:
        raise Duplicate(
            field="device_id", message=f"urządzenie {device_id} ({adapter}) jest już zarejestrowane (opaska {clash})"
        )


async def _new_band(
    session: AsyncSession,
    clock: Clock,
    *,
    serial: str | None,
    imei: str | None,
    model: str,
    firmware: str,
    sim_phone: str | None,
    secret_hash: str | None,
    staff_id: int | None,
    adapter: str = BandAdapter.MQTT,
    device_id: str | None = None,
) -> Band:
    clean_imei = normalise_imei(imei) if imei and imei.strip() else None
    clean_device_id = check_device_id(adapter, device_id, imei=clean_imei)
    if serial is None or not serial.strip():
        if clean_imei is None and clean_device_id is None:
            raise RegistryError(field="serial", message="podaj numer seryjny albo IMEI opaski")
        clean_serial = check_serial(clean_imei or clean_device_id or "")
    else:
        clean_serial = check_serial(serial)
    await _check_new_identity(session, serial=clean_serial, imei=clean_imei)
    await _check_device_identity(session, adapter=adapter, device_id=clean_device_id)
    band = Band(
        serial=clean_serial,
        imei=clean_imei,
        model=validation.optional_text(model, field="model", max_length=100),
        firmware=validation.optional_text(firmware, field="firmware", max_length=50),
        sim_phone=validation.optional_phone(sim_phone, field="sim_phone"),
        status=BandStatus.STOCK,
        resident_id=None,
        secret_hash=secret_hash,
        created_at=clock.now(),
        adapter=adapter,
        device_id=clean_device_id,
    )
    try:
        # A savepoint: two technicians registering the same band at once both pass the check
        # above; the unique constraint decides, and the loser gets Duplicate, not a broken session.
        async with session.begin_nested():
            session.add(band)
    except IntegrityError:
        raise Duplicate(field="serial", message=f"opaska o numerze {clean_serial} jest już zarejestrowana") from None
    await record_event(session, clock, band_id=band.id, type=BandEventType.REGISTERED, staff_id=staff_id)
    return band


async def register_band(
    session: AsyncSession,
    clock: Clock,
    *,
    serial: str | None = None,
    imei: str | None = None,
    model: str = "",
    firmware: str = "",
    sim_phone: str | None = None,
    resident_id: int | None = None,
    secret: str | None = None,
    staff_id: int | None = None,
    adapter: str = BandAdapter.MQTT,
    device_id: str | None = None,
) -> RegisteredBand:
    """Register a band by serial or IMEI (an IMEI alone becomes the serial) and issue its MQTT
    credentials; bound to `resident_id` if given. Duplicate for a serial or IMEI already known.

    A band that reaches us through Traccar or the watch protocol (`adapter`) is known by its
    `device_id` there (an IMEI or watch ID, or Traccar's uniqueId; the IMEI if not given) and gets
    no MQTT credentials: least privilege, it never logs in to the broker."""
    uses_mqtt = adapter == BandAdapter.MQTT
    secret = (secret or new_band_secret()) if uses_mqtt else ""
    band = await _new_band(
        session,
        clock,
        serial=serial,
        imei=imei,
        model=model,
        firmware=firmware,
        sim_phone=sim_phone,
        secret_hash=hash_band_secret(secret) if uses_mqtt else None,
        staff_id=staff_id,
        adapter=adapter,
        device_id=device_id,
    )
    if uses_mqtt:
        await record_event(session, clock, band_id=band.id, type=BandEventType.CREDENTIALS_ISSUED, staff_id=staff_id)
    if resident_id is not None:
        await bind_band(session, clock, band_id=band.id, resident_id=resident_id, staff_id=staff_id)
    return RegisteredBand(band, secret)


async def register_band_without_credentials(
    session: AsyncSession,
    clock: Clock,
    *,
    serial: str | None = None,
    imei: str | None = None,
    model: str = "",
    resident_id: int | None = None,
    staff_id: int | None = None,
) -> Band:
    """For the CSV import: the band is known, but can connect only once a technician issues its
    credentials at installation (`reissue_credentials`), so no secret lies around in a report."""
    band = await _new_band(
        session,
        clock,
        serial=serial,
        imei=imei,
        model=model,
        firmware="",
        sim_phone=None,
        secret_hash=None,
        staff_id=staff_id,
    )
    if resident_id is not None:
        await bind_band(session, clock, band_id=band.id, resident_id=resident_id, staff_id=staff_id)
    return band


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


def _not_retired(band: Band) -> None:
    if band.status == BandStatus.RETIRED:
        raise Conflict(field="band_id", message=f"opaska {band.serial} jest wycofana z użytku")


async def bind_band(
    session: AsyncSession, clock: Clock, *, band_id: int, resident_id: int, staff_id: int | None = None
) -> Band:
    """Give the band to the resident. Conflict if it is bound to someone else or retired."""
    band = await get_band(session, band_id=band_id)
    _not_retired(band)
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
    _not_retired(band)
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
    _not_retired(old)
    if old.resident_id is None:
        raise Conflict(field="old_band_id", message=f"opaska {old.serial} nie jest przypisana do nikogo")
    _not_retired(new)
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
    _not_retired(band)
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


async def reissue_credentials(
    session: AsyncSession, clock: Clock, *, band_id: int, staff_id: int | None = None
) -> RegisteredBand:
    """A new secret (shown once); the old one stops working at every broker."""
    band = await get_band(session, band_id=band_id)
    _not_retired(band)
    secret = new_band_secret()
    band.secret_hash = hash_band_secret(secret)
    band.credentials_revoked_at = None
    await session.flush()
    await record_event(
        session,
        clock,
        band_id=band.id,
        type=BandEventType.CREDENTIALS_ISSUED,
        resident_id=band.resident_id,
        staff_id=staff_id,
    )
    return RegisteredBand(band, secret)


async def revoke_credentials(session: AsyncSession, clock: Clock, *, band_id: int, staff_id: int | None = None) -> Band:
    """No broker admits the band until new credentials are issued (a lost or stolen band)."""
    band = await get_band(session, band_id=band_id)
    band.secret_hash = None
    band.credentials_revoked_at = clock.now()
    await session.flush()
    await record_event(
        session,
        clock,
        band_id=band.id,
        type=BandEventType.CREDENTIALS_REVOKED,
        resident_id=band.resident_id,
        staff_id=staff_id,
    )
    return band


async def band_history(session: AsyncSession, *, band_id: int) -> list[BandEvent]:
    return list(
        (await session.execute(select(BandEvent).where(BandEvent.band_id == band_id).order_by(BandEvent.id))).scalars()
    )


async def resident_band_history(session: AsyncSession, *, resident_id: int) -> list[BandEvent]:
    """Every band event naming the resident: which bands they wore, when, swaps."""
    return list(
        (
            await session.execute(select(BandEvent).where(BandEvent.resident_id == resident_id).order_by(BandEvent.id))
        ).scalars()
    )
