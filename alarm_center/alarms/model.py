"""Alarm and its audit trail of events."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, BigId, Json, UtcDateTime
from registry.model import Band, Resident


class AlarmKind(StrEnum):
    SOS = "sos"
    FALL = "fall"
    BAND_OFFLINE = "band_offline"
    BATTERY_LOW = "battery_low"
    NOT_WORN = "not_worn"
    # A band or a person called the centre's number (alarm_center/voice/inbound.py); band_id is
    # None when nobody in the registry has the caller's number.
    VOICE_CALL = "voice_call"
    # The resident's daily check-in window passed without the band's "I am fine".
    NO_CHECKIN = "no_checkin"
    # The band left the resident's safe zone (a circle around home): someone who may be lost.
    LEFT_ZONE = "left_zone"
    # An operator's welfare call ended in "needs a visit", or the resident did not answer twice.
    WELFARE_CALL = "welfare_call"
    # The platform's own synthetic band pressed SOS (alarm_center/canary/): closed by the engine at
    # once, never in a queue, never heard, never sent to anyone.
    CANARY = "canary"
    # A canary did not come through the whole alarm path in time: alarms may not be reaching the
    # operators. For the supervisor; cleared by the system when a canary comes through again.
    CANARY_LOST = "canary_lost"


# Alarms about the platform itself (alarm_center/canary/), not about a resident or their band: in
# no municipality's report, figures or per-kind tables.
PLATFORM_KINDS = frozenset({AlarmKind.CANARY, AlarmKind.CANARY_LOST})


class AlarmPriority(IntEnum):
    """Lower number is more urgent; the queue sorts by it, then by age."""

    LIFE = 1
    # A missed daily check-in: someone should call, but after any alarm of life or death.
    CARE = 3
    TECHNICAL = 5


PRIORITY_BY_KIND = {
    AlarmKind.SOS: AlarmPriority.LIFE,
    AlarmKind.FALL: AlarmPriority.LIFE,
    AlarmKind.BAND_OFFLINE: AlarmPriority.TECHNICAL,
    AlarmKind.BATTERY_LOW: AlarmPriority.TECHNICAL,
    AlarmKind.NOT_WORN: AlarmPriority.TECHNICAL,
    # Someone is on the line waiting for an operator: as urgent as a press of the button.
    AlarmKind.VOICE_CALL: AlarmPriority.LIFE,
    AlarmKind.NO_CHECKIN: AlarmPriority.CARE,
    AlarmKind.LEFT_ZONE: AlarmPriority.LIFE,
    AlarmKind.WELFARE_CALL: AlarmPriority.CARE,
    AlarmKind.CANARY: AlarmPriority.TECHNICAL,
    # Technical by class (the system clears it), but above every band's: the whole path is at stake.
    AlarmKind.CANARY_LOST: AlarmPriority.CARE,
}


class AlarmStatus(StrEnum):
    RAISED = "raised"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


OPEN_STATUSES = (AlarmStatus.RAISED, AlarmStatus.CLAIMED)
_OPEN_SQL = "status IN ('raised', 'claimed')"


class Alarm(Base):
    __tablename__ = "alarm"
    __table_args__ = (
        # At most one open alarm per band, kind and test-ness: a repeated press merges into it,
        # and a technician's test alarm never absorbs a real one.
        Index(
            "uq_alarm_open_per_band_kind",
            "band_id",
            "kind",
            "is_test",
            unique=True,
            sqlite_where=text(_OPEN_SQL),
            postgresql_where=text(_OPEN_SQL),
        ),
        Index("ix_alarm_open_queue", "status", "priority", "raised_at"),
        Index("ix_alarm_municipality_raised", "municipality_id", "raised_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    # None only for a voice call from a number no band or resident has (an "unknown number" alarm).
    band_id: Mapped[int | None] = mapped_column(ForeignKey("band.id"))
    kind: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=AlarmStatus.RAISED)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the platform received the first message: answer times are measured from here.
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    last_repeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set by escalation when the alarm was not claimed in time (the policy's overdue step).
    overdue_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    first_message_id: Mapped[int | None] = mapped_column(ForeignKey("band_message.id"))

    band: Mapped[Band | None] = relationship(lazy="raise")
    resident: Mapped[Resident | None] = relationship(lazy="raise")


class AlarmEvent(Base):
    """One row per thing that happened to an alarm: the audit trail and the console's live feed."""

    __tablename__ = "alarm_event"
    __table_args__ = (Index("ix_alarm_event_alarm_id_at", "alarm_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarm.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    type: Mapped[str] = mapped_column(String(32))
    # "band", "staff", "contact", "system"
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
