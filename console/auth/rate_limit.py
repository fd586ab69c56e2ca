"""Login throttling that slows a guesser down without locking the person on duty out.

Failed logins are rows of `login_attempt` (when, the username typed, the source address), kept in
the database so the throttle holds across console restarts and across several console processes,
and kept `login_audit_days` for the supervisors' audit (console/auth/failures_api.py). Only the
failures of the last `login_window_s` count here:

- from one address for one username: `login_free_failures` are free, then each further one doubles
  the wait before that address may try that username again (1 s, 2 s, 4 s, … up to
  `login_max_delay_s`), counted from its latest failure;
- from one address over all usernames (one address spraying many names): the same past
  `login_address_free_failures`;
- for one username from everywhere (many addresses guessing one name): past
  `login_username_ceiling`, every address that has itself failed for that name waits
  `login_max_delay_s` between tries.

No rule ever refuses an address that has not failed: the operator's own PC logs in at once,
whatever others guess elsewhere. The wait is answered (429, Retry-After) only to the address that
earned it. A 429 is not itself recorded: hammering during the wait does not lengthen it, and a
flood of refused tries cannot fill the table.

Each function takes the caller's session and does not commit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import ConsoleSettings
from registry.model import LoginAttempt


@dataclass(frozen=True)
class Failures:
    count: int
    latest: datetime | None


def backoff_s(failures: int, *, free: int, cap: int) -> int:
    """The wait after `failures` failures, `free` of them free: 0, then 1, 2, 4, … up to `cap`."""
    if failures < free:
        return 0
    # min() first keeps 2**n small however many failures there are.
    return min(cap, 1 << min(failures - free, 31))


async def _failures(session: AsyncSession, since: datetime, *conditions: ColumnElement[bool]) -> Failures:
    count, latest = (
        await session.execute(
            select(func.count(LoginAttempt.id), func.max(LoginAttempt.at)).where(LoginAttempt.at > since, *conditions)
        )
    ).one()
    return Failures(int(count), latest)


def _wait_s(failures: Failures, delay_s: int, now: datetime) -> int:
    if delay_s <= 0 or failures.latest is None:
        return 0
    remaining = (failures.latest + timedelta(seconds=delay_s) - now).total_seconds()
    return max(0, math.ceil(remaining))


async def retry_after(
    session: AsyncSession, *, username: str, client_ip: str, now: datetime, settings: ConsoleSettings
) -> int | None:
    """Seconds until this address may try this username again, or None if it may try now."""
    since = now - timedelta(seconds=settings.login_window_s)
    cap = settings.login_max_delay_s
    pair = await _failures(session, since, LoginAttempt.client_ip == client_ip, LoginAttempt.username == username)
    address = await _failures(session, since, LoginAttempt.client_ip == client_ip)
    pair_delay = backoff_s(pair.count, free=settings.login_free_failures, cap=cap)
    if pair.count > 0 and pair_delay < cap:
        # Only an address that has failed for this name is ever held by the name's ceiling.
        everywhere = await _failures(session, since, LoginAttempt.username == username)
        if everywhere.count >= settings.login_username_ceiling:
            pair_delay = cap
    waits = (
        _wait_s(pair, pair_delay, now),
        _wait_s(address, backoff_s(address.count, free=settings.login_address_free_failures, cap=cap), now),
    )
    wait = max(waits)
    return wait if wait > 0 else None


async def record_attempt(
    session: AsyncSession, *, username: str, client_ip: str, now: datetime, factor: str = "password"
) -> int:
    """Counted as a failure from the start: logins tried in parallel are all counted, and a
    successful one takes its row back (`forget`). A second factor's code (`factor="code"`) counts
    in the same throttle as a password: the same waits, from the same address, for the same name."""
    attempt = LoginAttempt(at=now, username=username[:64], client_ip=client_ip[:64], factor=factor)
    session.add(attempt)
    await session.flush()
    return attempt.id


async def forget(session: AsyncSession, *, attempt_id: int) -> None:
    """After a good login: this try was no failure. Earlier failures stay, for the audit; they
    stop counting when they leave the window (the delays they cause are seconds)."""
    await session.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt_id))


# At most this many failures are kept, whatever their age: a flood of guesses from many addresses
# must not fill the database (the oldest go first; the throttle only needs the last window's).
MAX_KEPT = 100_000


async def purge_old(session: AsyncSession, *, now: datetime, settings: ConsoleSettings) -> None:
    """Failures past the audit's keeping time, and the oldest past MAX_KEPT, go (at every login
    try, so the table stays bounded)."""
    await session.execute(
        delete(LoginAttempt).where(LoginAttempt.at <= now - timedelta(days=settings.login_audit_days))
    )
    oldest_kept = (
        await session.execute(select(LoginAttempt.id).order_by(LoginAttempt.id.desc()).offset(MAX_KEPT - 1).limit(1))
    ).scalar_one_or_none()
    if oldest_kept is not None:
        await session.execute(delete(LoginAttempt).where(LoginAttempt.id < oldest_kept))
