"""Band payloads, version 1: what each kind carries. docs/band-protocol.md is the prose twin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MESSAGE_ID_PATTERN = r"[A-Za-z0-9._:\-]{1,64}"
MessageId = Annotated[str, Field(pattern=f"^{MESSAGE_ID_PATTERN}$")]
MAX_PAYLOAD_BYTES = 4096


class _Strict(BaseModel):
    # Unknown fields are ignored: a newer band firmware may add some without breaking v1.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Uplink(_Strict):
    v: Literal[1]
    msg_id: MessageId
    # The band's clock: recorded, never trusted for timing alarms.
    ts: datetime
    # Optional: when given it must name the band of the topic.
    band: str | None = Field(default=None, max_length=64)


class Location(_Strict):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    source: Literal["gps", "wifi", "cell"] = "gps"


class Sos(Uplink):
    location: Location | None = None
    battery: int | None = Field(default=None, ge=0, le=100)


class Fall(Uplink):
    # The band's confidence in its fall detection, 0..1, if it gives one.
    confidence: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    location: Location | None = None
    battery: int | None = Field(default=None, ge=0, le=100)


class FallCancel(Uplink):
    """ "I am OK" pressed within the cancel window after a fall."""

    # The msg_id of the fall it cancels, if the band knows it.
    fall_msg_id: MessageId | None = None


class Heartbeat(Uplink):
    battery: int = Field(ge=0, le=100)
    charging: bool = False
    worn: bool | None = None
    # Signal quality 0-100 as the band reports it.
    signal: int | None = Field(default=None, ge=0, le=100)


class BatteryLow(Uplink):
    battery: int = Field(ge=0, le=100)


class Strap(Uplink):
    state: Literal["removed", "on"]


class LocationReport(Uplink, Location):
    # Why the band sent it: on its own schedule, asked by `locate`, or with an alarm.
    reason: Literal["periodic", "locate", "alarm"] = "periodic"
    request_id: MessageId | None = None


class Checkin(Uplink):
    """The resident's daily "I am fine"."""


class Status(_Strict):
    """Retained on `{root}/bands/{band}/status`; the band's MQTT last will carries `online: false`."""

    v: Literal[1]
    online: bool
    ts: datetime | None = None


# Alarm-class kinds go through the alarm queue and are acked only after commit.
ALARM_KINDS = frozenset({"sos", "fall"})
ALARM_MODELS: dict[str, type[Sos | Fall]] = {"sos": Sos, "fall": Fall}
PRIORITY_KINDS = frozenset({*ALARM_KINDS, "fall_cancel"})
TELEMETRY_MODELS: dict[str, type[Uplink]] = {
    "fall_cancel": FallCancel,
    "heartbeat": Heartbeat,
    "battery_low": BatteryLow,
    "strap": Strap,
    "location": LocationReport,
    "checkin": Checkin,
}
STATUS_KIND = "status"
