"""What a watch-protocol frame says, in the MQTT protocol's normalised band messages.

The fields of a position report (UD, UD2, UD_LTE, UD_WCDMA, WT, AL, ALCUSTOMER1, ...) follow
Traccar's WatchProtocolDecoder: date, time, validity, latitude, N/S, longitude, E/W, speed, course,
altitude, satellites, signal, battery %, steps, tumbles, status (hex), then cells and Wi-Fi.
Status bits that matter for care, every one acted on (Traccar keeps only the first it finds):
16 SOS, 21 and 22 fall, 20 strap removed, 0 and 17 battery low. An alarm (`AL`) frame without any
of them (nor a geofence or power-cut bit, which are no call for help) is raised as an SOS,
flagged: an alarm is never thrown away for its form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.ingress.watch_frames import Frame

SOS_BIT = 16
FALL_BITS = (21, 22)
STRAP_REMOVED_BIT = 20
BATTERY_LOW_BITS = (0, 17)
# Alarms a watch may raise that are not a call for help (Traccar: geofence exit/enter, power cut):
# an AL frame carrying only these is no SOS.
NOT_FOR_CARE_BITS = (1, 2, 14, 18, 19)

POSITION = re.compile(
    r"(\d\d)(\d\d)(\d\d),(\d\d)(\d\d)(\d\d),([AV]),"
    r" *(-?\d+\.\d+),([NS]), *(-?\d+\.\d+),([EW])?,"
    r"(\d+\.?\d*),(\d+\.?\d*),(-?\d+\.?\d*),(\d+),(\d+),(\d+),(\d+),\d+,([0-9A-Fa-f]+)(?:,.*)?",
    re.DOTALL,
)
POSITION_TYPES = ("UD", "AL", "WT")


@dataclass(frozen=True)
class Event:
    """One normalised band message: kind and v1 payload (without band)."""

    kind: str
    payload: dict[str, Any]
    problems: tuple[str, ...] = ()


@dataclass
class Decoded:
    events: list[Event] = field(default_factory=list)
    # Sent at once (LK, INIT, TKQ ...); None: nothing.
    reply: str | None = None
    # Sent only after every alarm in `events` is committed (the watch repeats an unanswered AL).
    reply_after_commit: str | None = None
    # The frame shows the watch is alive but carries no report (a bare LK).
    heard: bool = False
    # Why it was ignored (a frame type we do not use), for the metric; None when used.
    ignored: str | None = None


@dataclass(frozen=True)
class Fix:
    at: datetime | None
    valid: bool
    lat: float
    lon: float
    battery: int
    status: int


def _coordinate(value: str, hemisphere: str | None) -> float:
    # As Traccar reads DEG_HEM: S and W make it negative; a sign already given is kept otherwise.
    number = float(value)
    return -abs(number) if hemisphere in ("S", "W") else number


def parse_position(text: str) -> Fix | None:
    match = POSITION.fullmatch(text)
    if match is None:
        return None
    g = match.groups()
    try:
        at: datetime | None = datetime(
            2000 + int(g[2]), int(g[1]), int(g[0]), int(g[3]), int(g[4]), int(g[5]), tzinfo=UTC
        )
    except ValueError:
        at = None  # a watch whose clock was never set sends 000000
    return Fix(
        at=at,
        valid=g[6] == "A",
        lat=_coordinate(g[7], g[8]),
        lon=_coordinate(g[9], g[10]),
        battery=int(g[16]),
        status=int(g[18], 16),
    )


def status_bits(status: int) -> list[str]:
    """The normalised kinds a status word raises, SOS first."""
    kinds: list[str] = []
    if status >> SOS_BIT & 1:
        kinds.append("sos")
    if any(status >> bit & 1 for bit in FALL_BITS):
        kinds.append("fall")
    if status >> STRAP_REMOVED_BIT & 1:
        kinds.append("strap")
    if any(status >> bit & 1 for bit in BATTERY_LOW_BITS):
        kinds.append("battery_low")
    return kinds


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _stamp(fix: Fix, received_at: datetime) -> str:
    """The frame's time as a message-id part: the same alarm repeated keeps its id."""
    if fix.at is not None:
        return fix.at.strftime("%y%m%d%H%M%S")
    # No believable time: the id is stable for ten minutes, like the MQTT path's derived ids.
    return f"r{int(received_at.timestamp()) // 600}"


def _location(fix: Fix) -> dict[str, Any] | None:
    if not fix.valid or (fix.lat == 0 and fix.lon == 0) or abs(fix.lat) > 90 or abs(fix.lon) > 180:
        return None
    return {"lat": fix.lat, "lon": fix.lon, "source": "gps"}


def _position_events(frame: Frame, fix: Fix, received_at: datetime, battery_low_pct: int) -> list[Event]:
    is_alarm_frame = frame.type.upper().startswith("AL")
    stamp = _stamp(fix, received_at)
    battery = fix.battery if 0 <= fix.battery <= 100 else None
    location = _location(fix)
    alarm_ts = _iso(fix.at) if fix.at is not None else _iso(received_at)
    clock_note = () if fix.at is not None else ("watch sent no valid time",)
    events: list[Event] = []
    kinds = status_bits(fix.status)
    problems: tuple[str, ...] = clock_note
    if is_alarm_frame and not kinds and not any(fix.status >> bit & 1 for bit in NOT_FOR_CARE_BITS):
        kinds.insert(0, "sos")
        problems = (*problems, f"alarm frame {frame.type} without a known status bit (status {fix.status:08x})")
    # Telemetry is stamped with the time of receipt: many watches run on local time or none,
    # and a report with a clock 10 minutes off would be refused. Alarms keep the watch's time
    # (judged, flagged if wrong, never refused for it).
    now = _iso(received_at)
    for kind in kinds:
        if kind in ("sos", "fall"):
            payload: dict[str, Any] = {"v": 1, "msg_id": f"w:{kind}:{stamp}", "ts": alarm_ts}
            if location is not None:
                payload["location"] = location
            if battery is not None:
                payload["battery"] = battery
            events.append(Event(kind, payload, problems))
        elif kind == "strap":
            events.append(Event("strap", {"v": 1, "msg_id": f"w:strap:{stamp}", "ts": now, "state": "removed"}))
        else:
            # A watch that says "battery low" with a level above our mark is believed about the level.
            level = battery if battery is not None else max(battery_low_pct - 1, 0)
            events.append(Event("battery_low", {"v": 1, "msg_id": f"w:battery:{stamp}", "ts": now, "battery": level}))
    if location is not None:
        events.append(
            Event(
                "location",
                {
                    "v": 1,
                    "msg_id": f"w:loc:{stamp}",
                    "ts": now,
                    **location,
                    "reason": "alarm" if is_alarm_frame else "periodic",
                },
            )
        )
    if battery is not None:
        events.append(Event("heartbeat", {"v": 1, "msg_id": f"w:hb:{stamp}", "ts": now, "battery": battery}))
    return events


def decode(frame: Frame, *, received_at: datetime, battery_low_pct: int = 20) -> Decoded:
    """The frame's band messages and the reply the watch expects. Never raises."""
    kind = frame.type
    upper = kind.upper()
    if upper == "INIT":
        return Decoded(reply="INIT,1", heard=True)
    if upper == "LK":
        values = frame.values
        decoded = Decoded(reply="LK", heard=True)
        # LK,steps,tumbles,battery: Traccar reads the battery from the third value.
        if len(values) >= 3 and values[2].isdigit() and int(values[2]) <= 100:
            stamp = int(received_at.timestamp())
            decoded.events.append(
                Event(
                    "heartbeat", {"v": 1, "msg_id": f"w:lk:{stamp}", "ts": _iso(received_at), "battery": int(values[2])}
                )
            )
        return decoded
    if upper in ("TKQ", "TKQ2"):
        return Decoded(reply=kind, heard=True)
    if upper == "JXTK":
        # A voice message in parts: each part is acknowledged (or the watch resends it), not kept.
        return Decoded(reply="JXTKR,1", heard=True, ignored="voice")
    if upper.startswith(POSITION_TYPES):
        text = frame.content.partition(b",")[2].decode("ascii", "replace")
        fix = parse_position(text)
        is_alarm_frame = upper.startswith("AL")
        if fix is None:
            if not is_alarm_frame:
                return Decoded(heard=True, ignored="unparsed_position")
            # An alarm whose fields we cannot read is still an alarm.
            window = f"r{int(received_at.timestamp()) // 600}"
            alarm: dict[str, Any] = {"v": 1, "msg_id": f"w:sos:{window}", "ts": _iso(received_at)}
            event = Event("sos", alarm, (f"alarm frame {kind} not readable",))
            return Decoded(events=[event], reply_after_commit="AL", heard=True)
        events = _position_events(frame, fix, received_at, battery_low_pct)
        has_alarm = any(event.kind in ("sos", "fall") for event in events)
        reply = "AL" if is_alarm_frame else None
        return Decoded(
            events=events,
            reply=None if has_alarm else reply,
            reply_after_commit=reply if has_alarm else None,
            heard=True,
        )
    return Decoded(heard=True, ignored="unused_type")
