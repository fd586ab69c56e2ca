"""Messages to bands that must not be lost: an outbox the gateway publishes from.

`alarm_received` is not here: it is sent straight after the commit, and a band that misses it
repeats its alarm. `alarm_claimed`, `config` and `locate` are decided elsewhere (console, engine,
registry) and written here in the same transaction as the decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, Json, UtcDateTime


class BandDownlink(Base):
    __tablename__ = "band_downlink"
    __table_args__ = (Index("ix_band_downlink_sent_at_id", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    band_id: Mapped[int] = mapped_column(ForeignKey("band.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    # Retained on the broker (config): a band that connects later still gets it.
    retain: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
