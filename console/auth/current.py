"""Who is asking: the `CurrentUser` dependency, role gates and the CSRF check.

A request is authenticated by the `opaska_session` cookie. A state-changing request (POST, PUT,
PATCH, DELETE) must also carry the session's CSRF token (header X-CSRF-Token, or form field
csrf_token): SameSite=Strict already keeps other sites' requests from carrying the cookie, the
token covers older browsers and a subdomain that is not ours.

No `from __future__ import annotations` here: FastAPI resolves the Annotated dependencies below at
import time, and cannot from strings naming module-level aliases.
"""

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import AlarmKind
from console.auth import sessions
from console.deps import ClockDep, SessionDep, context_of
from core.settings import ConsoleSettings
from registry import staff as staff_registry
from registry.model import StaffRole

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# Alarms about the platform, in no municipality (alarm_center/canary/lost.py).
PLATFORM_ALARM_KINDS = frozenset({AlarmKind.CANARY_LOST.value})


@dataclass(frozen=True)
class StaffPrincipal:
    id: int
    username: str
    full_name: str
    role: StaffRole
    # None: every municipality (administrators).
    municipality_ids: frozenset[int] | None
    session_id: int
    csrf_token: str

    def sees(self, municipality_id: int | None) -> bool:
        """Whether this person may see what belongs to the municipality (an alarm of a band bound to
        nobody has none: only those who see everything see it)."""
        if self.municipality_ids is None:
            return True
        return municipality_id is not None and municipality_id in self.municipality_ids

    def sees_alarm(self, municipality_id: int | None, kind: str | None) -> bool:
        """`sees`, and an alarm about the platform itself (canary_lost: alarms may not be reaching
        anyone) for everyone who handles alarms, whatever their municipalities."""
        if self.sees(municipality_id):
            return True
        handles_alarms = self.role in (StaffRole.OPERATOR, StaffRole.SUPERVISOR)
        return handles_alarms and municipality_id is None and kind in PLATFORM_ALARM_KINDS


async def principal_for_token(
    session: AsyncSession, *, token: str, now: datetime, settings: ConsoleSettings
) -> StaffPrincipal | None:
    """The person a session token stands for, or None. Runs and commits its own transaction
    (the touch of last_seen), so call it outside any other."""
    async with session.begin():
        live = await sessions.find_live(session, token=token, now=now, settings=settings)
        if live is None:
            return None
        account = await staff_registry.account(session, live.staff)
    return StaffPrincipal(
        account.id,
        account.username,
        account.full_name,
        account.role,
        account.municipality_ids,
        live.id,
        live.csrf_token,
    )


NOT_LOGGED_IN = "not logged in, or the session has ended: log in at POST /api/login"


async def _csrf_token_sent(request: Request) -> str:
    header = request.headers.get(sessions.CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette keeps the parsed form, so the route can still read it.
        value = (await request.form()).get(sessions.CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def current_user(request: Request, session: SessionDep, clock: ClockDep) -> StaffPrincipal:
    token = request.cookies.get(sessions.COOKIE, "")
    settings = context_of(request).settings
    principal = await principal_for_token(session, token=token, now=clock.now(), settings=settings) if token else None
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=NOT_LOGGED_IN)
    if request.method in UNSAFE_METHODS:
        sent = await _csrf_token_sent(request)
        if not sent or not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"missing or wrong CSRF token: send the session's csrf_token (GET /api/me) in the "
                f"{sessions.CSRF_HEADER} header or a csrf_token form field",
            )
    return principal


CurrentUser = Annotated[StaffPrincipal, Depends(current_user)]


def require_role(*roles: StaffRole) -> Callable[[StaffPrincipal], Coroutine[Any, Any, StaffPrincipal]]:
    """A dependency passing only these roles (administrators always pass); 403 for the others."""
    allowed = frozenset(roles) | {StaffRole.ADMINISTRATOR}

    async def gate(user: CurrentUser) -> StaffPrincipal:
        if user.role not in allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"a {user.role.value} may not do this; it needs one of: {names}"
            )
        return user

    return gate


# Who may do what, in one place.
AnyStaff = CurrentUser
# Act on alarms: claim, note, escalate, resolve, call, notify; read medical notes and key-safe codes.
AlarmHandler = Annotated[StaffPrincipal, Depends(require_role(StaffRole.OPERATOR, StaffRole.SUPERVISOR))]
Supervisor = Annotated[StaffPrincipal, Depends(require_role(StaffRole.SUPERVISOR))]
Technician = Annotated[StaffPrincipal, Depends(require_role(StaffRole.TECHNICIAN))]
# Store residents' key-safe codes (reading one goes through an alarm, audited).
KeySafeKeeper = Annotated[StaffPrincipal, Depends(require_role(StaffRole.SUPERVISOR))]
BandReader = Annotated[StaffPrincipal, Depends(require_role(StaffRole.TECHNICIAN, StaffRole.SUPERVISOR))]
