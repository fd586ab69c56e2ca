"""Messages to bands that must not be lost: an outbox the gateway publishes from.

`alarm_received` is not kept here (only its payload is made here): it is sent straight after the
commit, and a band that misses it repeats its alarm. `alarm_claimed`, `config` and `locate` are
decided elsewhere (console, engine, registry) and written here, by `enqueue` alone, in the same
transaction as the decision; the gateway's `DownlinkSender` publishes them.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import Clock
from core.db.base import Base, BigId, Json, UtcDateTime
from core.settings import BandSettings
from registry.model import Band


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


def alarm_received(*, msg_id: str, alarm_id: int | None, at: datetime) -> dict[str, Any]:
    payload: dict[str, Any] = {"v": 1, "msg_id": msg_id, "ts": at.isoformat()}
    if alarm_id is not None:
        payload["alarm_id"] = alarm_id
    return payload


async def enqueue(
    session: AsyncSession, *, band_id: int, kind: str, payload: dict[str, Any], at: datetime, retain: bool = False
) -> BandDownlink:
    """Add a downlink to the outbox; the caller's transaction commits it with the decision."""
    row = BandDownlink(band_id=band_id, kind=kind, payload=payload, retain=retain, created_at=at, attempts=0)
    session.add(row)
    await session.flush()
    return row


async def alarm_claimed(
    session: AsyncSession, *, band_id: int, alarm_id: int, kind: str, msg_id: str | None, at: datetime
) -> None:
    """Tell the band a person has taken its alarm ("help is coming")."""
    payload: dict[str, Any] = {"v": 1, "alarm_id": alarm_id, "kind": kind, "ts": at.isoformat()}
    if msg_id is not None:
        payload["msg_id"] = msg_id
    await enqueue(session, band_id=band_id, kind="alarm_claimed", payload=payload, at=at)


async def push_config(session: AsyncSession, clock: Clock, *, band: Band, defaults: BandSettings) -> None:
    """The band's settings, retained on its downlink so it gets them whenever it connects."""
    payload = {
        "v": 1,
        "heartbeat_interval_s": band.heartbeat_interval_s or defaults.heartbeat_interval_s,
        "fall_cancel_window_s": defaults.fall_cancel_window_s,
        "ts": clock.now().isoformat(),
    }
    await enqueue(session, band_id=band.id, kind="config", payload=payload, at=clock.now(), retain=True)


async def request_location(session: AsyncSession, clock: Clock, *, band: Band) -> str:
    """Ask the band where it is; it answers with a `location` report carrying this request id."""
    request_id = f"loc-{secrets.token_hex(6)}"
    payload = {"v": 1, "request_id": request_id, "ts": clock.now().isoformat()}
    await enqueue(session, band_id=band.id, kind="locate", payload=payload, at=clock.now())
    return request_id
