"""Server-side login sessions. The browser holds a random token; the database holds its SHA-256.

Each function takes the caller's session and does not commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import ConsoleSettings
from registry.model import StaffSession, StaffUser

COOKIE = "opaska_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# last_seen_at is written at most this often per session: a busy console does not turn every
# read into a write, and "online in the last 2 minutes" stays exact enough.
TOUCH_EVERY = timedelta(seconds=20)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str  # for the cookie only; never stored, never logged
    csrf_token: str
    session_id: int


async def start(session: AsyncSession, *, staff_id: int, now: datetime, settings: ConsoleSettings) -> NewSession:
    """A fresh session with fresh tokens: a login never reuses an id the browser brought (no fixation)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    row = StaffSession(
        token_hash=token_hash(token),
        staff_id=staff_id,
        csrf_token=csrf,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.session_max_age_s),
    )
    session.add(row)
    await session.flush()
    return NewSession(token, csrf, row.id)


@dataclass(frozen=True)
class LiveSession:
    id: int
    staff: StaffUser
    csrf_token: str
    last_seen_at: datetime


async def find_live(
    session: AsyncSession, *, token: str, now: datetime, settings: ConsoleSettings
) -> LiveSession | None:
    """The session this token opens, if it is neither idle too long nor past its end, and its
    user still active; touched (last seen now) when it was last touched a while ago."""
    if not token or len(token) > 200:
        return None
    row = (
        await session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.staff_id)
            .where(StaffSession.token_hash == token_hash(token))
        )
    ).first()
    if row is None:
        return None
    staff_session, staff = row
    idle_limit = staff_session.last_seen_at + timedelta(seconds=settings.session_idle_timeout_s)
    if now >= staff_session.expires_at or now >= idle_limit or not staff.active:
        await session.execute(delete(StaffSession).where(StaffSession.id == staff_session.id))
        return None
    if now - staff_session.last_seen_at >= TOUCH_EVERY:
        await session.execute(update(StaffSession).where(StaffSession.id == staff_session.id).values(last_seen_at=now))
    return LiveSession(staff_session.id, staff, staff_session.csrf_token, staff_session.last_seen_at)


async def end(session: AsyncSession, *, token: str) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash(token)))


async def purge_expired(session: AsyncSession, *, now: datetime, settings: ConsoleSettings) -> None:
    """Drop sessions past either limit (at each login, so the table stays the size of the staff)."""
    idle_since = now - timedelta(seconds=settings.session_idle_timeout_s)
    await session.execute(
        delete(StaffSession).where((StaffSession.expires_at <= now) | (StaffSession.last_seen_at <= idle_since))
    )


async def seen_since(session: AsyncSession, since: datetime) -> list[tuple[StaffUser, datetime]]:
    """Staff with a session seen at or after `since`, with when they were last seen."""
    rows = await session.execute(
        select(StaffUser, StaffSession.last_seen_at)
        .join(StaffSession, StaffSession.staff_id == StaffUser.id)
        .where(StaffSession.last_seen_at >= since, StaffUser.active.is_(True))
        .order_by(StaffSession.last_seen_at.desc())
    )
    latest: dict[int, tuple[StaffUser, datetime]] = {}
    for staff, seen in rows:
        latest.setdefault(staff.id, (staff, seen))
    return list(latest.values())
