"""The login rate limit: failed logins per username and per client address, kept in the database
so that it holds across console restarts and across several console processes.

Each function takes the caller's session and does not commit.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import ConsoleSettings
from registry.model import LoginAttempt


async def retry_after(
    session: AsyncSession, *, username: str, client_ip: str, now: datetime, settings: ConsoleSettings
) -> int | None:
    """Seconds until this username or address may try again, or None if it may try now."""
    window = timedelta(seconds=settings.login_window_s)
    since = now - window
    waits: list[int] = []
    for column, value in ((LoginAttempt.username, username), (LoginAttempt.client_ip, client_ip)):
        counted = (
            (
                await session.execute(
                    select(LoginAttempt.at)
                    .where(column == value, LoginAttempt.at > since)
                    .order_by(LoginAttempt.at.desc())
                    .limit(settings.login_max_failures)
                )
            )
            .scalars()
            .all()
        )
        if len(counted) >= settings.login_max_failures:
            # A sliding window: one more try once the oldest of the newest failures ages out.
            waits.append(max(1, math.ceil((min(counted) + window - now).total_seconds())))
    return max(waits) if waits else None


async def record_attempt(session: AsyncSession, *, username: str, client_ip: str, now: datetime) -> int:
    """Counted as a failure from the start: logins tried in parallel are all counted, and a
    successful one takes its row back (`forget`)."""
    attempt = LoginAttempt(at=now, username=username[:64], client_ip=client_ip[:64])
    session.add(attempt)
    await session.flush()
    return attempt.id


async def forget(session: AsyncSession, *, username: str, attempt_id: int) -> None:
    """After a good login: the username's earlier failures no longer count, nor does this try."""
    await session.execute(
        delete(LoginAttempt).where(or_(LoginAttempt.username == username, LoginAttempt.id == attempt_id))
    )


async def purge_old(session: AsyncSession, *, now: datetime, settings: ConsoleSettings) -> None:
    await session.execute(
        delete(LoginAttempt).where(LoginAttempt.at <= now - timedelta(seconds=settings.login_window_s))
    )
