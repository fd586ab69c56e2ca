"""Every accepted band message, once: (band, message id) is unique."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, Json, UtcDateTime


class BandMessage(Base):
    __tablename__ = "band_message"
    # The dedup key: a redelivered or repeated message is recognised here, not in memory.
    __table_args__ = (UniqueConstraint("band_id", "message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    band_id: Mapped[int] = mapped_column(ForeignKey("band.id"))
    message_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The band's own clock; may be wrong (a band whose battery died forgets the time).
    band_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    # Set when an alarm was accepted despite a malformed payload or an implausible clock.
    malformed: Mapped[bool] = mapped_column(Boolean, default=False)
    clock_suspect: Mapped[bool] = mapped_column(Boolean, default=False)
