"""The registry API of bands: registration with credentials (the secret shown once), binding,
swaps, decommissioning, the installation test, and device health (JSON and CSV).

Technicians (and administrators) change bands; technicians and supervisors read them. A band
belongs to its resident's municipality, an unbound one to its last resident's; a band never given
to anyone is shared stock any band reader may take. Every change is recorded in the band's history
(`band_event`) with who made it.
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from console.auth.current import BandReader, Technician
from console.bounds import DbId
from console.deps import BandSettingsDep, ClockDep, SessionDep
from console.routes.registry_common import (
    BandEventView,
    BandTestView,
    BandView,
    PolishRoute,
    Text,
    band_event_views,
    band_test_view,
    band_view,
    band_view_of,
    may_see_band,
    registry_errors,
    scope_ids,
    visible_band,
    visible_resident,
)
from core.clock import Clock
from core.settings import BandSettings
from registry import band_directory, band_events, band_lifecycle, bands, health, installation_test
from registry.band_signal import BandWhereabouts, band_whereabouts
from registry.model import Band

router = APIRouter(tags=["registry"], route_class=PolishRoute)
# A secret travels in the answer once: no cache may keep it.
NO_STORE = {"Cache-Control": "no-store"}


# ---- views and bodies ---------------------------------------------------------------------------------


class Credentials(BaseModel):
    band: BandView
    # The band's MQTT login: its serial, and this secret. Shown this once; only a hash is kept.
    username: str
    secret: str


class BandDetail(BaseModel):
    band: BandView
    # The band's last signal (time and kind of its newest message) and last known position.
    whereabouts: BandWhereabouts
    history: list[BandEventView]
    # Installation-test results, newest first.
    tests: list[BandTestView]


class BandRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial: Annotated[Text, Field(max_length=64)] | None = None
    imei: Annotated[Text, Field(max_length=40)] | None = None
    model: Annotated[Text, Field(max_length=100)] = ""
    firmware: Annotated[Text, Field(max_length=50)] = ""
    sim_phone: Annotated[Text, Field(max_length=40)] | None = None
    # Bind to this resident at once (the usual case at an installation visit).
    resident_id: DbId | None = None
    # How the band reaches opaska (docs/devices/), and its identity there: Traccar's uniqueId, or
    # the ID a watch sends (default: the IMEI). Traccar and watch bands get no MQTT secret.
    adapter: Literal["mqtt", "traccar", "watch"] = "mqtt"
    device_id: Annotated[Text, Field(max_length=64)] | None = None


class BindBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resident_id: DbId


class SwapBody(BaseModel):
    """The band that replaces this one, by id or by serial/IMEI (from stock)."""

    model_config = ConfigDict(extra="forbid")

    new_band_id: DbId | None = None
    new_serial: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    note: Annotated[Text, Field(max_length=300)] = ""

    @model_validator(mode="after")
    def _one_band(self) -> "SwapBody":
        if (self.new_band_id is None) == (self.new_serial is None):
            raise ValueError("podaj nową opaskę: new_band_id albo new_serial")
        return self


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[Text, Field(max_length=300)] = ""


class BandTestStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # How long the band stays in test mode; without it, [bands] test_mode_minutes.
    minutes: Annotated[int, Field(ge=1, le=24 * 60)] | None = None


class BandTestState(BaseModel):
    band_id: int
    in_test_mode: bool
    test_mode_until: datetime | None
    # The pass limit: a test alarm passes when it arrived within this many ms of the press.
    pass_latency_ms: int
    # Newest first.
    results: list[BandTestView]


# ---- reading ------------------------------------------------------------------------------------------


@router.get("/api/registry/bands")
async def list_bands(
    user: BandReader,
    session: SessionDep,
    clock: ClockDep,
    municipality_id: DbId | None = None,
    status_: Annotated[Literal["stock", "active", "retired"] | None, Query(alias="status")] = None,
    q: Annotated[Text, Query(max_length=64, description="part of the serial or IMEI")] = "",
) -> list[BandView]:
    """Bands the user may see by serial: their municipalities' and shared stock; narrowed to one
    municipality (then no stock), a status, and a part of the serial or IMEI."""
    if municipality_id is not None:
        scope_ids(user, municipality_id)
    found = await band_directory.search_bands(session, status=status_, text=q)
    now = clock.now()
    return [
        band_view_of(listed.band, listed.municipality_id, listed.resident_name, now)
        for listed in found
        if may_see_band(user, listed.municipality_id)
        and (municipality_id is None or listed.municipality_id == municipality_id)
    ]


async def _detail(session: AsyncSession, clock: Clock, band: Band, municipality_id: int | None) -> BandDetail:
    return BandDetail(
        band=await band_view(session, clock, band, municipality_id),
        whereabouts=band_whereabouts(band),
        history=await band_event_views(session, await band_events.band_history(session, band_id=band.id)),
        tests=[band_test_view(r) for r in await installation_test.band_test_results(session, band_id=band.id)],
    )


@router.get("/api/registry/bands/{band_id}")
async def get_band(band_id: DbId, user: BandReader, session: SessionDep, clock: ClockDep) -> BandDetail:
    """The band, its history (registration, who wore it, swaps, credentials, tests) and test results."""
    band, municipality_id = await visible_band(session, user, band_id)
    return await _detail(session, clock, band, municipality_id)


# ---- changing -----------------------------------------------------------------------------------------


@router.post("/api/registry/bands", status_code=status.HTTP_201_CREATED)
async def register_band(
    body: BandRegister, user: Technician, session: SessionDep, clock: ClockDep, response: Response
) -> Credentials:
    """Register a band by serial or IMEI (IMEI checked by its Luhn digit) and issue its MQTT
    credentials, bound to the resident if given. The secret is in this answer only; 409 for a
    serial or IMEI already registered. A band behind Traccar or the watch protocol (`adapter`)
    is known there by `device_id` and gets no MQTT secret (`secret` is empty)."""
    response.headers.update(NO_STORE)
    async with session.begin():
        municipality_id = None
        if body.resident_id is not None:
            municipality_id = (await visible_resident(session, user, body.resident_id)).municipality_id
        with registry_errors():
            registered = await bands.register_band(session, clock, **body.model_dump(), staff_id=user.id)
        view = await band_view(session, clock, registered.band, municipality_id)
        return Credentials(band=view, username=registered.band.serial, secret=registered.secret)


@router.post("/api/registry/bands/{band_id}/bind")
async def bind_band(
    band_id: DbId, body: BindBody, user: Technician, session: SessionDep, clock: ClockDep
) -> BandDetail:
    """Give the band to a resident; 409 if it is bound to someone else (unbind or swap first) or retired."""
    async with session.begin():
        band, _ = await visible_band(session, user, band_id)
        resident = await visible_resident(session, user, body.resident_id)
        with registry_errors():
            band = await band_lifecycle.bind_band(
                session, clock, band_id=band.id, resident_id=resident.id, staff_id=user.id
            )
        return await _detail(session, clock, band, resident.municipality_id)


@router.post("/api/registry/bands/{band_id}/unbind")
async def unbind_band(band_id: DbId, user: Technician, session: SessionDep, clock: ClockDep) -> BandDetail:
    """Take the band back into stock."""
    async with session.begin():
        band, municipality_id = await visible_band(session, user, band_id)
        with registry_errors():
            band = await band_lifecycle.unbind_band(session, clock, band_id=band.id, staff_id=user.id)
        return await _detail(session, clock, band, municipality_id)


@router.post("/api/registry/bands/{band_id}/swap")
async def swap_band(
    band_id: DbId, body: SwapBody, user: Technician, session: SessionDep, clock: ClockDep
) -> BandDetail:
    """Replace this (broken) band with one from stock: this one is retired, the new one bound to the
    same resident; both keep their history. Returns the new band."""
    async with session.begin():
        old, municipality_id = await visible_band(session, user, band_id)
        with registry_errors():
            replacement = await band_lifecycle.replacement_band(
                session, band_id=body.new_band_id, serial_or_imei=body.new_serial
            )
        new, _ = await visible_band(session, user, replacement.id)
        with registry_errors():
            swap = await band_lifecycle.swap_band(
                session, clock, old_band_id=old.id, new_band_id=new.id, staff_id=user.id, note=body.note
            )
        return await _detail(session, clock, swap.new, municipality_id)


@router.post("/api/registry/bands/{band_id}/decommission")
async def decommission_band(
    band_id: DbId, body: NoteBody, user: Technician, session: SessionDep, clock: ClockDep
) -> BandDetail:
    """Retire the band for good (lost, broken): unbound, credentials revoked, history kept."""
    async with session.begin():
        band, municipality_id = await visible_band(session, user, band_id)
        with registry_errors():
            band = await band_lifecycle.decommission_band(
                session, clock, band_id=band.id, staff_id=user.id, note=body.note
            )
        return await _detail(session, clock, band, municipality_id)


@router.post("/api/registry/bands/{band_id}/credentials")
async def reissue_credentials(
    band_id: DbId, user: Technician, session: SessionDep, clock: ClockDep, response: Response
) -> Credentials:
    """A new secret, in this answer only; the old one stops working at every broker."""
    response.headers.update(NO_STORE)
    async with session.begin():
        band, municipality_id = await visible_band(session, user, band_id)
        with registry_errors():
            issued = await bands.reissue_credentials(session, clock, band_id=band.id, staff_id=user.id)
        view = await band_view(session, clock, issued.band, municipality_id)
        return Credentials(band=view, username=issued.band.serial, secret=issued.secret)


@router.delete("/api/registry/bands/{band_id}/credentials")
async def revoke_credentials(band_id: DbId, user: Technician, session: SessionDep, clock: ClockDep) -> BandDetail:
    """No broker admits the band until new credentials are issued (a lost or stolen band)."""
    async with session.begin():
        band, municipality_id = await visible_band(session, user, band_id)
        with registry_errors():
            band = await bands.revoke_credentials(session, clock, band_id=band.id, staff_id=user.id)
        return await _detail(session, clock, band, municipality_id)


# ---- installation test ------------------------------------------------------------------------------------


async def _test_mode(
    session: AsyncSession, clock: Clock, band: Band, settings: BandSettings, limit: int = 20
) -> BandTestState:
    on = installation_test.in_test_mode(band, clock.now())
    results = await installation_test.band_test_results(session, band_id=band.id, limit=limit)
    return BandTestState(
        band_id=band.id,
        in_test_mode=on,
        test_mode_until=band.test_mode_until if on else None,
        pass_latency_ms=settings.test_pass_latency_ms,
        results=[band_test_view(r) for r in results],
    )


@router.post("/api/registry/bands/{band_id}/test-mode")
async def start_test_mode(
    band_id: DbId,
    body: BandTestStart,
    user: Technician,
    session: SessionDep,
    clock: ClockDep,
    settings: BandSettingsDep,
) -> BandTestState:
    """Start the installation test: until it ends (by itself after `minutes`), the band's SOS and
    falls are test alarms, shown in the console marked TEST and never sent to relatives; each
    gives a result (pass/fail, latency from press to receipt) at GET .../tests."""
    async with session.begin():
        band, _ = await visible_band(session, user, band_id)
        with registry_errors():
            band = await installation_test.start_test_mode(
                session, clock, band_id=band.id, minutes=body.minutes or settings.test_mode_minutes, staff_id=user.id
            )
        return await _test_mode(session, clock, band, settings)


@router.delete("/api/registry/bands/{band_id}/test-mode")
async def stop_test_mode(
    band_id: DbId, user: Technician, session: SessionDep, clock: ClockDep, settings: BandSettingsDep
) -> BandTestState:
    """End the installation test now: the band's alarms are real again."""
    async with session.begin():
        band, _ = await visible_band(session, user, band_id)
        with registry_errors():
            band = await installation_test.stop_test_mode(session, clock, band_id=band.id, staff_id=user.id)
        return await _test_mode(session, clock, band, settings)


@router.get("/api/registry/bands/{band_id}/tests")
async def band_tests(
    band_id: DbId,
    user: BandReader,
    session: SessionDep,
    clock: ClockDep,
    settings: BandSettingsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> BandTestState:
    """Whether the band is in test mode, and its test results, newest first (a page waiting for a
    test press polls this)."""
    band, _ = await visible_band(session, user, band_id)
    return await _test_mode(session, clock, band, settings, limit)


# ---- device health ------------------------------------------------------------------------------------------


async def _health(
    session: AsyncSession,
    user: BandReader,
    clock: ClockDep,
    settings: BandSettings,
    municipality_id: int | None,
    include_all: bool,
) -> list[health.BandHealth]:
    scope = scope_ids(user, municipality_id)
    return await health.device_health(
        session, now=clock.now(), settings=settings, municipality_ids=scope, only_problems=not include_all
    )


AllQuery = Annotated[bool, Query(alias="all", description="every band in service, not only those with problems")]


@router.get("/api/registry/devices/health")
async def device_health(
    user: BandReader,
    session: SessionDep,
    clock: ClockDep,
    settings: BandSettingsDep,
    municipality_id: DbId | None = None,
    include_all: AllQuery = False,
) -> list[health.BandHealth]:
    """Bands that need a technician (offline, not worn, battery low, never connected, many rejected
    messages), worst first, with last seen and battery."""
    return await _health(session, user, clock, settings, municipality_id, include_all)


@router.get(
    "/api/registry/devices/health.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "the list as Polish Excel opens it"}},
)
async def device_health_csv(
    user: BandReader,
    session: SessionDep,
    clock: ClockDep,
    settings: BandSettingsDep,
    municipality_id: DbId | None = None,
    include_all: AllQuery = False,
) -> Response:
    """The same list as CSV for Excel (UTF-8 with BOM, `;`, local time), as a download."""
    rows = await _health(session, user, clock, settings, municipality_id, include_all)
    stamp = clock.now().astimezone(health.LOCAL).strftime("%Y-%m-%d")
    return Response(
        health.health_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="stan-opasek-{stamp}.csv"'},
    )
