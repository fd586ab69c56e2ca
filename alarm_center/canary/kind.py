"""What alarm a band's press raises: the canary band's SOS is a canary alarm, whatever it says."""

from __future__ import annotations

from alarm_center.alarms.model import AlarmKind
from registry.model import Band


def press_kind(band: Band, message_kind: str) -> AlarmKind:
    return AlarmKind.CANARY if band.is_canary else AlarmKind(message_kind)
