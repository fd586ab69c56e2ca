"""What storing an alarm-lane message came to, and the band_message row it is stored as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alarm_center.alarms.resident_cancel import CancelOutcome
from gateway.judge import AlarmMessage, Reason, Rejection, TelemetryMessage
from registry.model import Band


@dataclass(frozen=True)
class AlarmStored:
    band: str
    message_id: str
    alarm_id: int | None
    created: bool
    duplicate: bool
    kind: str = "sos"
    cancel: CancelOutcome | None = None


def duplicate_of(message: AlarmMessage | TelemetryMessage) -> AlarmStored:
    """A message whose (band, message id) is stored already: a redelivery or the band's repeat."""
    return AlarmStored(message.band, message.message_id, None, False, True, message.kind)


def unknown_band(band: str, kind: str) -> Rejection:
    return Rejection(Reason.UNKNOWN_BAND, f"no band {band!r} is registered", band, kind)


def message_row(band: Band, message: AlarmMessage | TelemetryMessage, received_at: datetime) -> dict[str, object]:
    row: dict[str, object] = {
        "band_id": band.id,
        "message_id": message.message_id,
        "kind": message.kind,
        "received_at": received_at,
        "band_time": message.band_time,
    }
    if isinstance(message, AlarmMessage):
        return {
            **row,
            "payload": message.payload,
            "malformed": message.malformed,
            "clock_suspect": message.clock_suspect,
        }
    return {**row, "payload": message.fields, "malformed": False, "clock_suspect": False}
