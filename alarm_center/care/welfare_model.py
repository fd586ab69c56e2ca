"""Welfare calls: a call an operator makes to a resident at a planned time (weekly, after a hospital
discharge, on a birthday), and what came of it. The use cases are in `welfare_calls`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UtcDateTime


class WelfareReason(StrEnum):
    WEEKLY = "weekly"
    DISCHARGE = "discharge"
    BIRTHDAY = "birthday"
    OTHER = "other"


class WelfareOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    NEEDS_VISIT = "needs_visit"


class WelfareCall(Base):
    """One planned call; open while `done_at` is None. A retry after no answer is a new row
    (attempt + 1), so each attempt keeps its own time, operator and outcome."""

    __tablename__ = "welfare_call"
    __table_args__ = (
        # The shift's list: open calls (done_at NULL) due before a time, oldest first.
        Index("ix_welfare_call_done_at_due_at", "done_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(16))
    # The coordinator's brief for the operator ("po wypisie ze szpitala 2.12").
    note: Mapped[str] = mapped_column(Text, default="")
    # Done (whatever the outcome), the same call is planned again a week later.
    repeat_weekly: Mapped[bool] = mapped_column(Boolean, default=False)
    # 1 for the planned call; 2 for the retry after no answer (a second no answer raises an alarm).
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    # The welfare_call alarm the outcome raised (or joined), if it needed one.
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarm.id", ondelete="SET NULL"))
