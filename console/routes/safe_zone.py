"""A resident's safe zone (alarm_center/care/zones.py): read by all staff of their municipality,
set by technicians and supervisors. A circle around home: centre and radius, or none at all.

No `from __future__ import annotations`: FastAPI must resolve the Annotated dependencies.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from alarm_center.care.zone_rule import MAX_RADIUS_M, MIN_RADIUS_M
from console.auth.current import AnyStaff, StaffPrincipal, require_role
from console.bounds import DbId
from console.deps import SessionDep
from console.routes.registry_common import PolishRoute, field_error, visible_resident
from registry.model import StaffRole
from registry.safe_zone import SafeZone, safe_zone_of

router = APIRouter(tags=["registry"], route_class=PolishRoute)
ZoneEditor = Annotated[StaffPrincipal, Depends(require_role(StaffRole.TECHNICIAN, StaffRole.SUPERVISOR))]


class SafeZoneState(BaseModel):
    zone: SafeZone | None
    # The zone watch's judgement of the band's newest position: outside since the last exit.
    outside: bool


class SafeZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # All three, or all null (no zone).
    lat: Annotated[float | None, Field(ge=-90, le=90, allow_inf_nan=False)] = None
    lon: Annotated[float | None, Field(ge=-180, le=180, allow_inf_nan=False)] = None
    radius_m: Annotated[int | None, Field(ge=MIN_RADIUS_M, le=MAX_RADIUS_M)] = None


@router.get("/api/registry/residents/{resident_id}/safe-zone")
async def get_safe_zone(resident_id: DbId, user: AnyStaff, session: SessionDep) -> SafeZoneState:
    """The resident's safe zone (centre lat/lon, radius in metres), or null; and whether the band
    is outside it now."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        return SafeZoneState(zone=safe_zone_of(resident), outside=resident.zone_outside)


@router.put("/api/registry/residents/{resident_id}/safe-zone")
async def set_safe_zone(resident_id: DbId, body: SafeZoneIn, user: ZoneEditor, session: SessionDep) -> SafeZoneState:
    """Set the zone ({"lat": 51.11, "lon": 17.03, "radius_m": 300}) or remove it (all null). The
    band's next position is judged against the new zone as if the resident had been inside."""
    given = {"lat": body.lat, "lon": body.lon, "radius_m": body.radius_m}
    missing = [name for name, value in given.items() if value is None]
    if missing and len(missing) < len(given):
        raise field_error(422, missing[0], "podaj środek strefy (szerokość i długość) i promień, albo nic")
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        resident.zone_lat, resident.zone_lon, resident.zone_radius_m = body.lat, body.lon, body.radius_m
        # A new zone starts from "inside", judged afresh on the newest position: were the band
        # outside the new circle, the next pass raises left_zone at once.
        resident.zone_outside = False
        resident.zone_judged_at = None
        return SafeZoneState(zone=safe_zone_of(resident), outside=False)
