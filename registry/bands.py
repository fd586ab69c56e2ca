"""Bands: registration (serial or IMEI) and credentials. Binding to a resident, swap and
decommission are in `band_lifecycle`; the history in `band_events`.

Every change of who wears a band, or of its credentials, writes a `BandEvent`, so a band's and a
resident's history survive swaps. A band's credentials are what every broker reads (the embedded
one and the EMQX hook through `gateway.broker.credential_store`, Mosquitto through the files the
gateway re-renders from it): clearing `secret_hash` is what makes all three refuse the band.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry import validation
from registry.band_events import band_history, record_event, resident_band_history
from registry.band_lifecycle import (
    Swap,
    bind_band,
    check_not_retired,
    decommission_band,
    find_band,
    get_band,
    list_bands,
    swap_band,
    unbind_band,
    update_band,
)
from registry.credentials import hash_band_secret, new_band_secret
from registry.errors import Duplicate, RegistryError
from registry.identifiers import check_device_id, check_serial, normalise_imei
from registry.model import Band, BandAdapter, BandEventType, BandStatus

# The lifecycle and history live in their own modules; their names stay importable from here,
# where callers have always found every band operation.
__all__ = [
    "RegisteredBand",
    "Swap",
    "band_history",
    "bind_band",
    "decommission_band",
    "find_band",
    "get_band",
    "list_bands",
    "record_event",
    "register_band",
    "register_band_without_credentials",
    "reissue_credentials",
    "resident_band_history",
    "revoke_credentials",
    "swap_band",
    "unbind_band",
    "update_band",
]


@dataclass(frozen=True)
class RegisteredBand:
    band: Band
    # Shown once to the technician; only its hash is stored. Empty for a band that never logs in
    # to MQTT (Traccar or watch-protocol bands reach us through their adapter).
    secret: str


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


async def reissue_credentials(
    session: AsyncSession, clock: Clock, *, band_id: int, staff_id: int | None = None
) -> RegisteredBand:
    """A new secret (shown once); the old one stops working at every broker."""
    band = await get_band(session, band_id=band_id)
    check_not_retired(band)
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
