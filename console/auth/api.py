"""POST /api/login, POST /api/logout, GET /api/me.

A login whose account has a second factor (or whose role must have one, [console] require_2fa_for)
stops after the password at a login step (console/auth/login_steps.py): the session is opened by
console/auth/second_factor_api.py once the code is right, or the enrolment done.
"""

import asyncio
import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from console.auth import login_steps, rate_limit, sessions
from console.auth.address_locks import AddressLocks
from console.auth.current import CurrentUser, StaffPrincipal
from console.auth.metrics import LOGIN_FAILURES, LOGIN_THROTTLED
from console.deps import ClockDep, SessionDep, context_of
from console.forwarded import is_https
from registry import second_factor
from registry import staff as staff_registry
from registry.model import StaffUser
from registry.second_factor_model import LoginStage
from registry.staff_passwords import MAX_LENGTH, hash_password, needs_rehash, verify_password

log = logging.getLogger(__name__)
router = APIRouter(tags=["login"])

BAD_LOGIN = "wrong username or password"


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]


class UserView(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    # None: every municipality.
    municipality_ids: list[int] | None


class Me(BaseModel):
    user: UserView
    # Send it back in the X-CSRF-Token header (or a csrf_token form field) with every POST, PUT,
    # PATCH and DELETE.
    csrf_token: str


class LoginPending(BaseModel):
    """The password was right; the login goes on at /login/second-factor (202)."""

    # "code": type the authenticator app's code (POST /api/login/code); "enrol": the role must have
    # a second factor and this account has none: enrol one (POST /api/login/enrolment) first.
    second_factor: LoginStage
    # Send it back in the X-CSRF-Token header with the next step's requests.
    csrf_token: str


def user_view(user: StaffPrincipal) -> UserView:
    ids = None if user.municipality_ids is None else sorted(user.municipality_ids)
    return UserView(id=user.id, username=user.username, full_name=user.full_name, role=user.role, municipality_ids=ids)


def client_ip(request: Request) -> str:
    # console/forwarded.py puts a trusted proxy's X-Forwarded-For here ([console] trusted_proxies),
    # nobody else's: a client cannot pick the address its failures are counted against.
    return request.client.host if request.client else "unknown"


def secure_cookie(request: Request) -> bool:
    """Secure whenever the browser reached us over https (directly or through a trusted proxy),
    and always when the setting says so."""
    return context_of(request).settings.secure_cookies or is_https(request.scope)


@router.post(
    "/api/login",
    responses={
        202: {"model": LoginPending, "description": "password right; the second factor is next"},
        401: {"description": BAD_LOGIN},
        429: {"description": "too many failed logins; see Retry-After"},
    },
)
async def login(
    body: LoginRequest, request: Request, response: Response, session: SessionDep, clock: ClockDep
) -> Me | LoginPending:
    """Log in: sets the session cookie (HttpOnly, SameSite=Strict) and returns the CSRF token.

    Not CSRF-checked (there is no session yet); throttled instead (console/auth/rate_limit.py):
    an address that keeps failing for a username, or over many usernames, waits longer and longer
    (429 with Retry-After, to that address only). Every failure is kept for the audit
    (GET /api/login-failures), with the username typed and the address, never the password.
    An account with a second factor gets 202 and a login step instead of a session.
    """
    settings = context_of(request).settings
    username = staff_registry.normalise_username(body.username)
    address = client_ip(request)
    turns: AddressLocks = request.app.state.login_turns
    # One try at a time from an address: each sees the failures of those before it (address_locks.py).
    async with turns.turn(address):
        now = clock.now()
        async with session.begin():
            wait = await rate_limit.retry_after(
                session, username=username, client_ip=address, now=now, settings=settings
            )
            if wait is None:
                # Old failures go at every try, so a flood of guesses from many addresses stays bounded.
                await rate_limit.purge_old(session, now=now, settings=settings)
                attempt_id = await rate_limit.record_attempt(session, username=username, client_ip=address, now=now)
                staff = await staff_registry.find_by_username(session, username)
                stored_hash = staff.password_hash if staff is not None and staff.active else None
        if wait is not None:
            LOGIN_THROTTLED.inc()
            log.warning("login throttled for %d s (from %s)", wait, address)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"too many failed logins; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        # Outside any transaction: the hash takes its time without holding the database.
        verified = await asyncio.to_thread(verify_password, stored_hash, body.password)
    if not verified or staff is None:
        LOGIN_FAILURES.inc()
        log.warning("failed login (from %s)", address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=BAD_LOGIN)
    async with session.begin():
        await rate_limit.forget(session, attempt_id=attempt_id)
        await sessions.purge_expired(session, now=now, settings=settings)
        # A session the browser came with ends here: the login always gets a new id.
        previous = request.cookies.get(sessions.COOKIE)
        if previous:
            await sessions.end(session, token=previous)
        if stored_hash is not None and needs_rehash(stored_hash):
            await staff_registry.set_password_hash(
                session, staff_id=staff.id, password_hash=await asyncio.to_thread(hash_password, body.password)
            )
        stage = await _second_step(session, staff, frozenset(settings.require_2fa_for))
        if stage is not None:
            step = await login_steps.start(session, staff_id=staff.id, stage=stage, now=now)
        else:
            me = await open_session(session, request, response, staff=staff, now=now)
    if stage is not None:
        response.status_code = status.HTTP_202_ACCEPTED
        response.set_cookie(
            login_steps.COOKIE,
            step.token,
            max_age=int(login_steps.LIFETIME[stage].total_seconds()),
            path="/",
            httponly=True,
            samesite="strict",
            secure=secure_cookie(request),
        )
        log.info("staff %d gave the right password; second step: %s", staff.id, stage.value)
        return LoginPending(second_factor=stage, csrf_token=step.csrf_token)
    return me


async def _second_step(session: AsyncSession, staff: StaffUser, required: frozenset[str]) -> LoginStage | None:
    if await second_factor.is_enabled(session, staff_id=staff.id):
        return LoginStage.CODE
    if second_factor.required_for(staff.role, required):
        return LoginStage.ENROL
    return None


async def open_session(
    session: AsyncSession, request: Request, response: Response, *, staff: StaffUser, now: datetime
) -> Me:
    """The login's end: a new session, its cookie on `response`, and who is logged in. Does not commit."""
    settings = context_of(request).settings
    new = await sessions.start(session, staff_id=staff.id, now=now, settings=settings)
    account = await staff_registry.account(session, staff)
    response.set_cookie(
        sessions.COOKIE,
        new.token,
        max_age=settings.session_max_age_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
    )
    log.info("staff %d logged in", staff.id)
    principal = StaffPrincipal(
        account.id,
        account.username,
        account.full_name,
        account.role,
        account.municipality_ids,
        new.session_id,
        new.csrf_token,
    )
    return Me(user=user_view(principal), csrf_token=new.csrf_token)


@router.post("/api/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(user: CurrentUser, request: Request, session: SessionDep) -> Response:
    """End this session (the cookie is cleared too)."""
    async with session.begin():
        await sessions.end(session, token=request.cookies.get(sessions.COOKIE, ""))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookie(request))
    log.info("staff %d logged out", user.id)
    return response


@router.get("/api/me")
async def me(user: CurrentUser) -> Me:
    """Who is logged in, and the CSRF token their state-changing requests must carry."""
    return Me(user=user_view(user), csrf_token=user.csrf_token)
