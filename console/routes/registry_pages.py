"""The registry's pages: residents, one resident, registering a band, one band (with its
installation test), and device health. Like every console page, plain HTML and a script; what
they show comes from the registry API, which also decides who may see and change what."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.auth.current import StaffPrincipal
from console.bounds import DbId
from console.deps import ClockDep, SessionDep
from console.pages import _page, _to_login, _viewer, refusal_page
from registry.model import StaffRole

router = APIRouter(include_in_schema=False)
# Operators work from alarms; the registry and device health are for those who keep them.
REGISTRY_ROLES = frozenset({StaffRole.TECHNICIAN, StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR})


def _registry_page(request: Request, user: StaffPrincipal, name: str, **extra: object) -> Response:
    if user.role not in REGISTRY_ROLES:
        return refusal_page(request, user, "registry_forbidden.html")
    return _page(request, name, user, **extra)


@router.get("/registry")
async def registry_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    return _registry_page(request, user, "registry.html")


@router.get("/registry/residents/{resident_id}")
async def resident_page(resident_id: DbId, request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    return _registry_page(request, user, "registry_resident.html", resident_id=resident_id)


@router.get("/registry/bands/new")
async def register_band_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    return _registry_page(request, user, "registry_band_new.html")


@router.get("/registry/bands/{band_id}")
async def band_page(band_id: DbId, request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    return _registry_page(request, user, "registry_band.html", band_id=band_id)


@router.get("/devices")
async def devices_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    return _registry_page(request, user, "devices.html")
