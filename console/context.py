"""What the console needs from the rest of the platform, handed in at start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed


@dataclass
class ConsoleContext:
    session_factory: async_sessionmaker[AsyncSession]
    feed: AlarmFeed
    # True when this process also runs the feed's tail (the console owns it); False in tests that drive it.
    run_feed: bool = True
