"""Which band a device identity (a watch's ID, a Traccar uniqueId) names, from the registry."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.model import Band, BandStatus

# How long an answer is believed. Short, so a band registered (or retired) a moment ago is
# recognised (or refused) soon, and a flood of one unknown IMEI costs one query per this time.
KNOWN_TTL_S = 30.0
UNKNOWN_TTL_S = 10.0
# Unknown identities remembered at most: a scan of random IMEIs must not grow memory without end.
MAX_REMEMBERED = 50_000


class DeviceDirectory:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        adapter: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._adapter = adapter
        self._monotonic = monotonic
        self._cache: dict[str, tuple[str | None, float]] = {}

    async def band_for(self, device_id: str) -> str | None:
        """The serial of the live band this adapter knows as `device_id`, or None."""
        now = self._monotonic()
        cached = self._cache.get(device_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._sessions() as session:
            serial = (
                await session.execute(
                    select(Band.serial).where(
                        Band.adapter == self._adapter,
                        Band.device_id == device_id,
                        Band.status != BandStatus.RETIRED,
                    )
                )
            ).scalar_one_or_none()
        if len(self._cache) >= MAX_REMEMBERED:
            self._cache.clear()
        self._cache[device_id] = (serial, now + (KNOWN_TTL_S if serial else UNKNOWN_TTL_S))
        return serial
