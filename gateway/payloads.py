"""Band payloads, version 1: what each kind carries. docs/band-protocol.md is the prose twin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MessageId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
MAX_PAYLOAD_BYTES = 4096


class _Uplink(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1]
    msg_id: MessageId
    # The band's clock: recorded, never trusted for timing alarms.
    ts: datetime


class Location(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    source: Literal["gps", "wifi", "cell"] = "gps"


class Sos(_Uplink):
    location: Location | None = None


class Fall(_Uplink):
    confidence: float | None = Field(default=None, ge=0, le=1)
    location: Location | None = None


class Heartbeat(_Uplink):
    battery: int = Field(ge=0, le=100)
    charging: bool = False
    worn: bool | None = None
    # Signal quality 0-100 as the band reports it.
    signal: int | None = Field(default=None, ge=0, le=100)


ALARM_KINDS = frozenset({"sos", "fall"})
TELEMETRY_MODELS: dict[str, type[_Uplink]] = {"heartbeat": Heartbeat}
ALARM_MODELS: dict[str, type[Sos | Fall]] = {"sos": Sos, "fall": Fall}
