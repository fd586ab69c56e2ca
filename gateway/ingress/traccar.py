"""Traccar as a protocol front end: what its forwarded JSON says, in normalised band messages.

Shapes, from Traccar's source (5.6 and newer): an event is forwarded as `EventData`
(forward/EventData.java: `{"event": Event, "position": Position, "device": Device, ...}`, null
members left out) by EventForwarderMqtt; a position as `PositionData` (forward/PositionData.java:
`{"position": Position, "device": Device}`) by PositionForwarderMqtt (Traccar 6). Event
(model/Event.java): id, type, eventTime, deviceId, positionId, attributes; an alarm event has
type "alarm" and `attributes.alarm`. Position (model/Position.java): id, deviceId, fixTime,
valid, latitude, longitude, accuracy, attributes (`alarm`, `batteryLevel`, `charge`). Device
(model/Device.java): id, name, uniqueId.

Anything else is ignored with a counted reason; an unknown field is never a reason. An alarm may
arrive twice, as an event and inside a forwarded position: both carry the same position, so the
message id is (alarm, fix time) and the second is a duplicate (by (band, msg_id), in the
database). An event without a position is keyed by Traccar's event id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.ingress.watch_decoder import Event

ADAPTER = "traccar"
# Traccar's alarm names (Position.ALARM_*) that mean something to a care centre.
ALARMS = {
    "sos": "sos",
    "fallDown": "fall",
    "lowBattery": "battery_low",
    "lowPower": "battery_low",
    "removing": "strap",
}
MAX_PAYLOAD_BYTES = 64 * 1024


@dataclass
class Mapped:
    unique_id: str
    events: list[Event] = field(default_factory=list)
    # Presence only (a position without battery, deviceOnline).
    heard: bool = False
    # Why nothing (or not everything) was taken: ignored_<reason> in the metric.
    ignored: list[str] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    reason: str
    detail: str


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _time(value: Any) -> datetime | None:
    """Jackson writes dates as ISO 8601 (or, configured so, epoch milliseconds)."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, UTC)
        if isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _alarm_names(value: Any) -> list[str]:
    # Traccar joins several alarms of one position with commas (Position.addAlarm).
    if not isinstance(value, str):
        return []
    return [name.strip() for name in value.split(",") if name.strip()]


def _location(position: dict[str, Any]) -> dict[str, Any] | None:
    lat, lon = _number(position.get("latitude")), _number(position.get("longitude"))
    if position.get("valid") is False or lat is None or lon is None or (lat == 0 and lon == 0):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    location: dict[str, Any] = {"lat": lat, "lon": lon, "source": "gps"}
    accuracy = _number(position.get("accuracy"))
    if accuracy is not None and 0 < accuracy <= 100_000:
        location["accuracy_m"] = accuracy
    return location


def _battery(position: dict[str, Any]) -> int | None:
    level = _number(_dict(position.get("attributes")).get("batteryLevel"))
    return round(level) if level is not None and 0 <= level <= 100 else None


def decode_json(raw: bytes) -> dict[str, Any] | Refused:
    if len(raw) > MAX_PAYLOAD_BYTES:
        return Refused("too_large", f"{len(raw)} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return Refused("malformed", f"not JSON: {str(exc)[:100]}")
    if not isinstance(data, dict):
        return Refused("malformed", "not a JSON object")
    return data


def map_traccar(data: dict[str, Any], *, received_at: datetime, battery_low_pct: int = 20) -> Mapped | Refused:
    """An EventData or PositionData object as band messages. Never raises."""
    device = _dict(data.get("device"))
    unique_id = device.get("uniqueId")
    if isinstance(unique_id, int) and not isinstance(unique_id, bool):
        unique_id = str(unique_id)
    if not isinstance(unique_id, str) or not unique_id.strip() or len(unique_id) > 64:
        return Refused("no_device", "no device.uniqueId")
    event = data.get("event")
    position = _dict(data.get("position"))
    mapped = Mapped(unique_id.strip())
    now = received_at.isoformat()
    fix_time = _time(position.get("fixTime")) or _time(position.get("deviceTime"))
    mapped.source = {"adapter": ADAPTER, "uniqueId": mapped.unique_id}
    if isinstance(event, dict):
        mapped.source |= {"event_id": event.get("id"), "event_type": str(event.get("type"))[:40]}
        if position:
            mapped.source["position_id"] = position.get("id")
        event_type = event.get("type")
        if event_type == "alarm":
            names = _alarm_names(_dict(event.get("attributes")).get("alarm")) or _alarm_names(
                _dict(position.get("attributes")).get("alarm")
            )
            problems: tuple[str, ...] = ()
            if not names:
                # An alarm event that does not say which: the safe side is an SOS, flagged.
                names, problems = ["sos"], ("Traccar alarm event without attributes.alarm",)
            key = fix_time.strftime("%Y%m%dT%H%M%S.%f")[:-3] if fix_time else f"e{event.get('id')}"
            _alarms(mapped, names, key, position, fix_time, now, battery_low_pct, problems)
        elif event_type in ("deviceOnline", "deviceOffline"):
            mapped.events.append(Event("status", {"v": 1, "online": event_type == "deviceOnline", "ts": now}))
            mapped.heard = event_type == "deviceOnline"
        else:
            mapped.ignored.append("event_type")
        return mapped
    if event is not None:
        return Refused("malformed", "event is not an object")
    if not position:
        return Refused("unknown_shape", "neither event nor position")
    # A forwarded position: presence, battery, location, and the alarms it carries.
    mapped.source["position_id"] = position.get("id")
    names = _alarm_names(_dict(position.get("attributes")).get("alarm"))
    if names and fix_time is not None:
        _alarms(mapped, names, fix_time.strftime("%Y%m%dT%H%M%S.%f")[:-3], position, fix_time, now, battery_low_pct, ())
    elif names:
        _alarms(mapped, names, f"p{position.get('id')}", position, None, now, battery_low_pct, ())
    location = _location(position)
    stamp = fix_time.strftime("%Y%m%dT%H%M%S") if fix_time else f"p{position.get('id')}"
    if location is not None:
        mapped.events.append(Event("location", {"v": 1, "msg_id": f"t:loc:{stamp}"[:64], "ts": now, **location}))
    battery = _battery(position)
    if battery is not None:
        charging = _dict(position.get("attributes")).get("charge") is True
        mapped.events.append(
            Event(
                "heartbeat",
                {"v": 1, "msg_id": f"t:hb:{stamp}"[:64], "ts": now, "battery": battery, "charging": charging},
            )
        )
    mapped.heard = True
    return mapped


def _alarms(
    mapped: Mapped,
    names: list[str],
    key: str,
    position: dict[str, Any],
    fix_time: datetime | None,
    now: str,
    battery_low_pct: int,
    problems: tuple[str, ...],
) -> None:
    location = _location(position)
    battery = _battery(position)
    taken: set[str] = set()
    # SOS first: it is the one that must not wait.
    for name in sorted(names, key=lambda n: ALARMS.get(n) != "sos"):
        kind = ALARMS.get(name)
        if kind is None:
            mapped.ignored.append("alarm_type")
            continue
        if kind in taken:
            continue  # lowBattery and lowPower together are one battery warning
        taken.add(kind)
        msg_id = f"t:{kind}:{key}"[:64]
        if kind in ("sos", "fall"):
            payload: dict[str, Any] = {"v": 1, "msg_id": msg_id, "ts": (fix_time.isoformat() if fix_time else now)}
            if location is not None:
                payload["location"] = location
            if battery is not None:
                payload["battery"] = battery
            mapped.events.append(Event(kind, payload, problems))
        elif kind == "strap":
            mapped.events.append(Event("strap", {"v": 1, "msg_id": msg_id, "ts": now, "state": "removed"}))
        else:
            level = battery if battery is not None else max(battery_low_pct - 1, 0)
            mapped.events.append(Event("battery_low", {"v": 1, "msg_id": msg_id, "ts": now, "battery": level}))
