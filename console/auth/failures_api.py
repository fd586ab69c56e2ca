"""GET /api/login-failures: the failed logins, for supervisors and administrators.

Who tried which username from where and when (never a password: it is not stored). A username
typed that names no account is shown only by its first letter and length: people type their
password into the username field, and this list must not become a place to read it.
A supervisor sees the failures against accounts that share a municipality with them, and those
against no account; an administrator sees all.
"""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from console.auth.current import Supervisor
from console.deps import ClockDep, SessionDep
from registry.model import LoginAttempt, StaffMunicipality, StaffUser

router = APIRouter(tags=["login"])


class LoginFailure(BaseModel):
    at: datetime
    # The account's username, or the typed text masked ("a… (12 znaków)") when it names none.
    username: str
    known_account: bool
    # The account's holder, when there is one.
    full_name: str | None
    client_ip: str
    # "password", or "code": a wrong second-factor code after the right password (the password
    # may be known to someone).
    factor: str


class LoginFailures(BaseModel):
    since: datetime
    # All failures since then that this user may see; `failures` lists the latest `limit` of them.
    total: int
    failures: list[LoginFailure]


def masked(typed: str) -> str:
    return f"{typed[:1]}… ({len(typed)} znaków)"


@router.get("/api/login-failures")
async def login_failures(
    user: Supervisor,
    session: SessionDep,
    clock: ClockDep,
    hours: Annotated[int, Query(ge=1, le=24 * 400, description="how far back, in hours")] = 24,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> LoginFailures:
    """Failed console logins of the last `hours` (24 by default), the latest first."""
    since = clock.now() - timedelta(hours=hours)
    query = (
        select(LoginAttempt, StaffUser)
        .outerjoin(StaffUser, StaffUser.username == LoginAttempt.username)
        .where(LoginAttempt.at > since)
    )
    if user.municipality_ids is not None:
        shared = (
            select(StaffMunicipality.staff_id)
            .where(StaffMunicipality.municipality_id.in_(user.municipality_ids))
            .scalar_subquery()
        )
        query = query.where(StaffUser.id.is_(None) | StaffUser.id.in_(shared))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(query.order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc()).limit(limit))
    failures = [
        LoginFailure(
            at=attempt.at,
            username=staff.username if staff is not None else masked(attempt.username),
            known_account=staff is not None,
            full_name=staff.full_name if staff is not None else None,
            client_ip=attempt.client_ip,
            factor=attempt.factor,
        )
        for attempt, staff in rows
    ]
    return LoginFailures(since=since, total=total, failures=failures)
