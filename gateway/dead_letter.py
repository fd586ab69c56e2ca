"""Rejected band messages, kept for technicians in a bounded table (the newest N rows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opaska.db.base import Base, BigId, UtcDateTime

PAYLOAD_KEPT_CHARS = 1024


class DeadLetter(Base):
    __tablename__ = "band_dead_letter"
    __table_args__ = (Index("ix_band_dead_letter_band_serial_id", "band_serial", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The band the topic names; not necessarily registered, and NULL when the topic names none.
    band_serial: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(300))
    # The raw payload as text, truncated; bytes that are not UTF-8 are replaced.
    payload: Mapped[str] = mapped_column(Text)
