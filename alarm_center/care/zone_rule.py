"""Is a band's position outside the resident's safe zone? The rule, with its hysteresis.

A fix is judged against the circle with its own accuracy: the band is *outside* only when even the
nearest point its accuracy allows lies beyond the radius plus a margin, and *back inside* only when
the fix itself lies within the radius. Between the two nothing changes, so a band standing at the
edge, with GPS jitter of tens of metres, never flaps between "left" and "returned".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

EARTH_RADIUS_M = 6_371_008.8
# Beyond the radius (and the fix's accuracy) a position must be before it counts as leaving: a
# phone-grade GPS wanders 10–30 m standing still, more between blocks of flats.
MARGIN_M = 50.0
# Radii a coordinator may set: a flat's block at the least, a small town at the most.
MIN_RADIUS_M = 50
MAX_RADIUS_M = 20_000


@dataclass(frozen=True)
class Zone:
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float


class Verdict(StrEnum):
    LEFT = "left"  # was inside, now surely outside: raise left_zone
    RETURNED = "returned"  # was outside, now inside: record the return
    UNCHANGED = "unchanged"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): exact enough at a town's scale, and for any two points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def judge(zone: Zone, fix: Fix, *, was_outside: bool, margin_m: float = MARGIN_M) -> Verdict:
    distance = distance_m(zone.lat, zone.lon, fix.lat, fix.lon)
    if not was_outside and distance - max(fix.accuracy_m, 0.0) > zone.radius_m + margin_m:
        return Verdict.LEFT
    if was_outside and distance <= zone.radius_m:
        return Verdict.RETURNED
    return Verdict.UNCHANGED


def offset(lat: float, lon: float, *, north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """The point `north_m` north and `east_m` east of (lat, lon): for setting zones and for tests."""
    d_lat = math.degrees(north_m / EARTH_RADIUS_M)
    d_lon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + d_lat, lon + d_lon
