"""Liveness of the platform's own services, kept in the database so other processes can judge it.

Supervision reads the gateway's row: while the gateway is not connected to the broker no band can
be judged offline, and after it reconnects every band gets a grace period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, Json, UtcDateTime


class ServiceState(Base):
    __tablename__ = "service_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    # When the current broker connection began; NULL while disconnected.
    connected_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    alive_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # What else the service has to say (the alarm canary: its last result, end-to-end time, stage).
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json)
