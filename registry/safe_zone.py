"""A resident's safe zone as the console shows and sets it (the rule that judges it is
alarm_center/care/zone_rule.py)."""

from __future__ import annotations

from pydantic import BaseModel

from registry.model import Resident


class SafeZone(BaseModel):
    lat: float
    lon: float
    radius_m: int


def safe_zone_of(resident: Resident) -> SafeZone | None:
    if resident.zone_lat is None or resident.zone_lon is None or resident.zone_radius_m is None:
        return None
    return SafeZone(lat=resident.zone_lat, lon=resident.zone_lon, radius_m=resident.zone_radius_m)
