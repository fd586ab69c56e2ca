"""One row per telephone conversation about an alarm: who called whom, through which legs, and how
it went. The DB is the source of truth: Twilio's signed status callbacks move a row, and the alarm
page reads calls in progress from here, so two operators never call the same person at once."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UtcDateTime


class CallDirection(StrEnum):
    # The operator calls out: Twilio rings the operator's phone first, then bridges to the target.
    OUTBOUND = "outbound"
    # A band or a person calls the centre's number: queued until an operator answers.
    INBOUND = "inbound"


class CallTarget(StrEnum):
    """Who is at the far end of the call."""

    BAND = "band"  # the band's own SIM: speaker and microphone on the wrist
    RESIDENT = "resident"  # the resident's phone
    CONTACT = "contact"  # a relative or neighbour on the resident's contact list
    RESPONDER = "responder"  # the on-duty responder (duty roster) or a named one
    UNKNOWN = "unknown"  # an inbound call from a number nobody in the registry has


class CallStatus(StrEnum):
    # Outbound: Twilio is ringing the operator's own phone.
    CALLING_OPERATOR = "calling_operator"
    # Outbound: the operator answered; the far end is being rung.
    RINGING = "ringing"
    # Inbound: the caller waits in the alarm's queue for an operator.
    QUEUED = "queued"
    # Inbound: an operator pressed "Odbierz"; Twilio rings their phone to take the caller.
    ANSWERING = "answering"
    # Both ends talk.
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CANCELED = "canceled"
    # Inbound: the caller hung up while waiting in the queue.
    ABANDONED = "abandoned"


LIVE_STATUSES = frozenset(
    {CallStatus.CALLING_OPERATOR, CallStatus.RINGING, CallStatus.QUEUED, CallStatus.ANSWERING, CallStatus.IN_PROGRESS}
)


class VoiceCall(Base):
    __tablename__ = "voice_call"
    __table_args__ = (Index("ix_voice_call_alarm_id", "alarm_id"), Index("ix_voice_call_status", "status"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarm.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    # The operator who placed the call, or who answered an inbound one.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    # The operator's phone or SIP address the call used (their account's, at the time).
    operator_address: Mapped[str | None] = mapped_column(String(120))
    target: Mapped[str] = mapped_column(String(16))
    # The contact's, resident's, band's or duty shift's id, by `target`.
    target_id: Mapped[int | None] = mapped_column(Integer)
    # The far end's number, E.164: the callee, or the caller of an inbound call.
    number: Mapped[str] = mapped_column(String(20))
    # The conference (outbound) or queue (inbound) the legs meet in: named after the alarm.
    room: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    # Twilio's call sids: the leg to the operator's phone, and the far end's leg.
    operator_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    far_call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    # Twilio's last word on a failed leg (e.g. "busy", error code), for the timeline.
    error: Mapped[str | None] = mapped_column(String(200))
    # A recording, only with the resident's consent where the municipality records calls.
    recording_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    recording_duration_s: Mapped[int | None] = mapped_column(Integer)
    recording_deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
