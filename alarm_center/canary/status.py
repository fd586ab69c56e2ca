"""The canary's last result as every console reads it (the `service_state` row the probe writes)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.service_state import ServiceState

STATE_ROW = "alarm-canary"
# The probe writes once a round (a minute by default): older than this, no console runs it.
STALE_AFTER = timedelta(minutes=5)


class CanaryStatus(BaseModel):
    # "ok": the last canary came through; "lost": it did not; "stale": no canary for a while (the
    # console that runs it is down, or [canary] enabled is false there); "never": none yet.
    state: str
    last_round_at: datetime | None = None
    last_ok_at: datetime | None = None
    # The last good canary's end-to-end time: the band's press to the closed alarm on the console.
    last_ok_seconds: float | None = None
    lost_since: datetime | None = None
    # Where a lost canary stopped (broker, gateway, ack, engine, feed, database).
    stage: str | None = None


def _when(raw: object) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


async def canary_status(session: AsyncSession, *, now: datetime) -> CanaryStatus:
    row = (await session.execute(select(ServiceState).where(ServiceState.name == STATE_ROW))).scalar_one_or_none()
    if row is None:
        return CanaryStatus(state="never")
    detail = row.detail or {}
    seconds = detail.get("last_ok_seconds")
    state = "ok" if detail.get("ok") else "lost"
    if now - row.alive_at > STALE_AFTER:
        state = "stale"
    return CanaryStatus(
        state=state,
        last_round_at=row.alive_at,
        last_ok_at=_when(detail.get("last_ok_at")),
        last_ok_seconds=float(seconds) if isinstance(seconds, int | float) else None,
        lost_since=row.connected_since,
        stage=detail.get("stage") if isinstance(detail.get("stage"), str) else None,
    )
