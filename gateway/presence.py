"""Folding a batch of band reports into one presence update per band.

Heartbeats are coalesced: whatever a band sent in the last second becomes one row update, not a
row per heartbeat. Rarer reports (strap, battery low, location, check-in) are also kept as band
messages, for the band's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.judge import StatusMessage, TelemetryMessage

# Kinds kept as band_message rows (deduplicated by message id). Heartbeats are not: presence only.
RECORDED_KINDS = frozenset({"battery_low", "strap", "location", "checkin"})


@dataclass
class PresenceUpdate:
    last_seen_at: datetime | None = None
    battery: int | None = None
    charging: bool | None = None
    signal: int | None = None
    worn: bool | None = None
    # When the band's current `worn` value began within this batch, and whether the batch saw it change.
    worn_since: datetime | None = None
    worn_changed_in_batch: bool = False
    location: dict[str, Any] | None = None
    checkin_at: datetime | None = None
    online: bool | None = None
    online_at: datetime | None = None
    # The newest accepted message of this batch and its kind (band.last_message_at/_kind).
    message_at: datetime | None = None
    message_kind: str | None = None

    def seen(self, at: datetime) -> None:
        if self.last_seen_at is None or at > self.last_seen_at:
            self.last_seen_at = at

    def sent(self, kind: str, at: datetime) -> None:
        """An accepted message of `kind` at `at`; of equal times the later in the batch wins."""
        if self.message_at is None or at >= self.message_at:
            self.message_at, self.message_kind = at, kind

    def set_worn(self, worn: bool, at: datetime) -> None:
        if self.worn is None:
            self.worn, self.worn_since = worn, at
        elif self.worn != worn:
            self.worn, self.worn_since, self.worn_changed_in_batch = worn, at, True


@dataclass(frozen=True)
class RecordedReport:
    message: TelemetryMessage
    received_at: datetime


class PresenceBatch:
    def __init__(self) -> None:
        self.updates: dict[str, PresenceUpdate] = {}
        self.recorded: list[RecordedReport] = []

    def _for(self, band: str) -> PresenceUpdate:
        return self.updates.setdefault(band, PresenceUpdate())

    def heard(self, band: str, at: datetime) -> None:
        """A message from this band arrived, even one whose content we refused."""
        self._for(band).seen(at)

    def add(self, message: TelemetryMessage, received_at: datetime) -> None:
        update = self._for(message.band)
        update.seen(received_at)
        update.sent(message.kind, received_at)
        fields = message.fields
        if message.kind == "heartbeat":
            update.battery = fields["battery"]
            update.charging = fields["charging"]
            if fields.get("signal") is not None:
                update.signal = fields["signal"]
            if fields.get("worn") is not None:
                update.set_worn(fields["worn"], received_at)
        elif message.kind == "battery_low":
            update.battery = fields["battery"]
        elif message.kind == "strap":
            update.set_worn(fields["state"] == "on", received_at)
        elif message.kind == "location":
            update.location = {
                "lat": fields["lat"],
                "lon": fields["lon"],
                "accuracy_m": fields.get("accuracy_m"),
                "source": fields["source"],
                "at": received_at.isoformat(),
            }
        elif message.kind == "checkin":
            update.checkin_at = received_at
        if message.kind in RECORDED_KINDS:
            self.recorded.append(RecordedReport(message, received_at))

    def status(self, message: StatusMessage, received_at: datetime) -> None:
        # Not "seen": a retained status may be hours old, and the last will is sent by the broker.
        update = self._for(message.band)
        update.online, update.online_at = message.online, received_at

    def __bool__(self) -> bool:
        return bool(self.updates)
