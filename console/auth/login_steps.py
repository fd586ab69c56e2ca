"""A login half done: the password was right, the second factor is still to come (a code, or
enrolment when the role must have one). Not a session: its cookie (`opaska_login_step`) opens
only the next step, for a few minutes, and a few wrong codes end it.

Each function takes the caller's session and does not commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from console.auth.sessions import token_hash
from registry.model import StaffUser
from registry.second_factor_model import LoginStage, StaffLoginStep

COOKIE = "opaska_login_step"
# Long enough to find the phone, short enough that a forgotten half-login is soon gone.
LIFETIME = {LoginStage.CODE: timedelta(minutes=5), LoginStage.ENROL: timedelta(minutes=15)}
# Wrong codes in one step before it ends (and the password is asked again, with its own throttle).
MAX_WRONG_CODES = 5


@dataclass(frozen=True)
class NewStep:
    token: str  # for the cookie only; never stored, never logged
    csrf_token: str
    stage: LoginStage


@dataclass(frozen=True)
class LiveStep:
    id: int
    staff: StaffUser
    stage: LoginStage
    csrf_token: str


async def start(session: AsyncSession, *, staff_id: int, stage: LoginStage, now: datetime) -> NewStep:
    await session.execute(delete(StaffLoginStep).where(StaffLoginStep.expires_at <= now))
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        StaffLoginStep(
            token_hash=token_hash(token),
            staff_id=staff_id,
            stage=stage.value,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + LIFETIME[stage],
            wrong_codes=0,
        )
    )
    await session.flush()
    return NewStep(token, csrf, stage)


async def find(session: AsyncSession, *, token: str, now: datetime) -> LiveStep | None:
    """The step this token continues, if it has not expired and its user is still active."""
    if not token or len(token) > 200:
        return None
    row = (
        await session.execute(
            select(StaffLoginStep, StaffUser)
            .join(StaffUser, StaffUser.id == StaffLoginStep.staff_id)
            .where(StaffLoginStep.token_hash == token_hash(token))
        )
    ).first()
    if row is None:
        return None
    step, staff = row
    if now >= step.expires_at or not staff.active:
        await end(session, step_id=step.id)
        return None
    return LiveStep(step.id, staff, LoginStage(step.stage), step.csrf_token)


async def end(session: AsyncSession, *, step_id: int) -> None:
    await session.execute(delete(StaffLoginStep).where(StaffLoginStep.id == step_id))


async def wrong_code(session: AsyncSession, *, step_id: int) -> bool:
    """Count a wrong code against the step; True when that was the last one it allowed (ended)."""
    await session.execute(
        update(StaffLoginStep).where(StaffLoginStep.id == step_id).values(wrong_codes=StaffLoginStep.wrong_codes + 1)
    )
    wrong = (
        await session.execute(select(StaffLoginStep.wrong_codes).where(StaffLoginStep.id == step_id))
    ).scalar_one_or_none()
    if wrong is None or wrong >= MAX_WRONG_CODES:
        await end(session, step_id=step_id)
        return True
    return False
