"""A band's last signal and last known position, as the alarm page and the band and resident
cards show them: one view, so the three pages say the same thing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from registry.model import Band

# What a band may send (gateway/payloads.py); the pages name each in Polish.
SIGNAL_KINDS = frozenset({"heartbeat", "sos", "fall", "fall_cancel", "battery_low", "strap", "location", "checkin"})


class LastSignal(BaseModel):
    """The newest message the band sent that was accepted, whatever its kind."""

    at: datetime
    # One of SIGNAL_KINDS: heartbeat, sos, fall, fall_cancel, battery_low, strap, location, checkin.
    kind: str


class BandLocation(BaseModel):
    lat: float
    lon: float
    accuracy_m: float | None = None
    # gps, wifi, cell (what the band said it used).
    source: str | None = None
    # When the position was received (ISO 8601), as the gateway stored it.
    at: str | None = None
    # The same place on openstreetmap.org, for a bigger map in a new tab.
    map_url: str


class BandWhereabouts(BaseModel):
    """A band's last signal and position, for the registry's band and resident cards."""

    band_id: int
    serial: str
    last_signal: LastSignal | None
    last_location: BandLocation | None


def map_url(lat: float, lon: float) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=17/{lat:.6f}/{lon:.6f}"


def band_location(raw: dict[str, Any] | None) -> BandLocation | None:
    """The stored `band.last_location` as a view; None when absent or unreadable."""
    if not raw:
        return None
    try:
        lat, lon = float(raw["lat"]), float(raw["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    accuracy = raw.get("accuracy_m")
    return BandLocation(
        lat=lat,
        lon=lon,
        accuracy_m=float(accuracy) if isinstance(accuracy, int | float) else None,
        source=str(raw["source"]) if raw.get("source") is not None else None,
        at=str(raw["at"]) if raw.get("at") is not None else None,
        map_url=map_url(lat, lon),
    )


def last_signal(band: Band) -> LastSignal | None:
    if band.last_message_at is None or band.last_message_kind is None:
        return None
    return LastSignal(at=band.last_message_at, kind=band.last_message_kind)


def band_whereabouts(band: Band) -> BandWhereabouts:
    return BandWhereabouts(
        band_id=band.id,
        serial=band.serial,
        last_signal=last_signal(band),
        last_location=band_location(band.last_location),
    )
