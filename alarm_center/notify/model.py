"""The outbox: every SMS and call is a row written with the decision to send it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UtcDateTime


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender until `deadline`; after it, reconciled, not resent blindly
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"


class Notification(Base):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_due", "status", "next_attempt_at"),
        Index("ix_notification_alarm_id", "alarm_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarm.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(8))
    to_phone: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    error: Mapped[str | None] = mapped_column(String(500))
    # The provider's own word for how far the message or call got (Twilio's MessageStatus or
    # CallStatus: queued, sent, delivered, undelivered, ringing, busy, no-answer…), the furthest one
    # reached, and when. `status` stays ours, for the outbox; this is what the operator is shown.
    provider_status: Mapped[str | None] = mapped_column(String(24))
    provider_status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Handled by the offline notifier (test mode): `sent` for the outbox's logic, though nothing left
    # the machine. The console says "not sent" for these, never "sent".
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PhoneOptOut(Base):
    """A number that sent STOP (and no START since): no SMS goes to it; alerts become calls.
    Kept per number, not per contact, so a responder's or a stranger's STOP holds too."""

    __tablename__ = "phone_opt_out"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    stopped_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookReceipt(Base):
    """One row per provider message or call whose answer was acted on: Twilio retrying a webhook,
    or someone replaying one, finds its sid taken (the primary key decides, even for two at once)."""

    __tablename__ = "webhook_receipt"

    provider_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
