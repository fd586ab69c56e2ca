"""What Traccar publishes over MQTT, shaped as its source shapes it.

Source: github.com/traccar/traccar (Apache License 2.0):
- src/main/java/org/traccar/forward/EventForwarderMqtt.java publishes `EventData` as JSON
  (src/main/java/org/traccar/forward/EventData.java: event, position, device, geofence,
  maintenance; null members left out, @JsonInclude(NON_NULL));
- src/main/java/org/traccar/forward/PositionForwarderMqtt.java publishes `PositionData`
  (src/main/java/org/traccar/forward/PositionData.java: position, device);
- the members are src/main/java/org/traccar/model/Event.java (id, attributes, deviceId, type,
  eventTime, positionId, geofenceId, maintenanceId), model/Position.java (id, attributes,
  deviceId, protocol, serverTime, deviceTime, fixTime, outdated, valid, latitude, longitude,
  altitude, speed, course, address, accuracy, network, geofenceIds) and model/Device.java (id,
  attributes, groupId, calendarId, name, uniqueId, status, lastUpdate, positionId, phone, model,
  contact, category, disabled, expirationTime); alarm names are Position.ALARM_* (sos, fallDown,
  lowBattery, lowPower, removing); event types Event.TYPE_* (alarm, deviceOnline, deviceOffline).
Dates as Jackson writes them with WRITE_DATES_AS_TIMESTAMPS off (ISO 8601 with offset).
The values (ids, coordinates, times) are ours.
"""

from __future__ import annotations

import copy
from typing import Any


def device(unique_id: str, device_id: int = 7) -> dict[str, Any]:
    return {
        "id": device_id,
        "attributes": {},
        "groupId": 0,
        "calendarId": 0,
        "name": "Opaska Heleny",
        "uniqueId": unique_id,
        "status": "online",
        "lastUpdate": "2026-12-03T07:30:00.000+00:00",
        "positionId": 1001,
        "phone": None,
        "model": "Q50",
        "contact": None,
        "category": "person",
        "disabled": False,
        "expirationTime": None,
    }


def position(
    *, position_id: int = 1001, fix_time: str = "2026-12-03T07:30:00.000+00:00", **attributes: Any
) -> dict[str, Any]:
    return {
        "id": position_id,
        "attributes": {"batteryLevel": 64, "steps": 120, **attributes},
        "deviceId": 7,
        "protocol": "watch",
        "serverTime": fix_time,
        "deviceTime": fix_time,
        "fixTime": fix_time,
        "outdated": False,
        "valid": True,
        "latitude": 51.1079,
        "longitude": 17.0385,
        "altitude": 120.0,
        "speed": 0.0,
        "course": 0.0,
        "address": None,
        "accuracy": 12.0,
        "network": None,
        "geofenceIds": None,
    }


def alarm_event(unique_id: str, alarm: str, *, event_id: int = 501, **position_kw: Any) -> dict[str, Any]:
    """EventData of an alarm: the event, the position that raised it, the device."""
    pos = position(alarm=alarm, **position_kw)
    return {
        "event": {
            "id": event_id,
            "attributes": {"alarm": alarm},
            "deviceId": 7,
            "type": "alarm",
            "eventTime": pos["deviceTime"],
            "positionId": pos["id"],
            "geofenceId": 0,
            "maintenanceId": 0,
        },
        "position": pos,
        "device": device(unique_id),
    }


def status_event(unique_id: str, event_type: str, *, event_id: int = 502) -> dict[str, Any]:
    """EventData of deviceOnline / deviceOffline: no position (positionId 0)."""
    return {
        "event": {
            "id": event_id,
            "attributes": {},
            "deviceId": 7,
            "type": event_type,
            "eventTime": "2026-12-03T07:31:00.000+00:00",
            "positionId": 0,
            "geofenceId": 0,
            "maintenanceId": 0,
        },
        "device": device(unique_id),
    }


def position_data(unique_id: str, **position_kw: Any) -> dict[str, Any]:
    """PositionData, as forwarded positions are published."""
    return {"position": position(**position_kw), "device": device(unique_id)}


def without_alarm(data: dict[str, Any]) -> dict[str, Any]:
    copied = copy.deepcopy(data)
    copied["position"]["attributes"].pop("alarm", None)
    return copied
