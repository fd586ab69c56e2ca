"""Escalation state is a row: a restart resumes exactly where it stopped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, Json, UtcDateTime


class Escalation(Base):
    __tablename__ = "escalation"
    __table_args__ = (Index("ix_escalation_due", "state", "next_due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarm.id", ondelete="CASCADE"), unique=True)
    # The policy as it was when the alarm was raised; editing a policy never changes this.
    policy: Mapped[dict[str, Any]] = mapped_column(Json)
    step: Mapped[int] = mapped_column(Integer, default=0)
    # Within a step that reaches people one at a time (contacts in priority order): which one is next.
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    loop_count: Mapped[int] = mapped_column(Integer, default=0)
    # "active", "paused" (a person is handling it), "arrival" / "arrival_end" (a relative said
    # "going": waiting for the alarm to be resolved, then going on / ending), "done". A "done" row
    # whose alarm is still open keeps next_due_at until the close (all-clear) has been handled.
    state: Mapped[str] = mapped_column(String(16), default="active")
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Fencing token: a worker advances the row only if the version it read is still current.
    version: Mapped[int] = mapped_column(Integer, default=0)
