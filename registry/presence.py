"""Which bands are online: heard within their own offline window (their interval, or the default)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import BandSettings
from registry.model import Band, BandStatus


async def count_bands_online(session: AsyncSession, *, now: datetime, bands: BandSettings) -> int:
    """Bands heard within their offline window (per-band interval, or the default)."""
    interval = func.coalesce(func.nullif(Band.heartbeat_interval_s, 0), bands.heartbeat_interval_s)
    active = (Band.status == BandStatus.ACTIVE, Band.last_seen_at.is_not(None))
    # Counted in the database, one cutoff per interval in use (a handful), so no band row is
    # fetched: the two dialects share no way to add a per-row interval to a timestamp.
    intervals = (await session.execute(select(interval).where(*active).distinct())).scalars().all()
    online = 0
    for seconds in intervals:
        cutoff = now - timedelta(seconds=int(seconds) * bands.offline_after_missed)
        query = select(func.count()).select_from(Band).where(*active, interval == seconds, Band.last_seen_at >= cutoff)
        online += int((await session.execute(query)).scalar_one())
    return online
