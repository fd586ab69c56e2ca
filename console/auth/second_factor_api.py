"""The second factor (TOTP) in the console: the login's second step, enrolment on Moje konto (or,
when the role must have one, right after the password), turning it off, and an administrator's
reset.

- POST /api/login/code: the login step's code (an authenticator's, or a recovery code) opens the
  session. Wrong codes are failures of the login throttle (console/auth/rate_limit.py), counted
  per address and username like passwords, so a guesser elsewhere never slows the right person;
  five wrong codes end the step too, and the password is asked again.
- POST /api/login/enrolment, /api/login/enrolment/confirm: enrolment forced by
  [console] require_2fa_for, before the session exists: the login step opens nothing else.
- GET /api/me/second-factor, POST /api/me/second-factor/enrolment, …/confirm, …/disable: the
  logged-in person's own.
- GET /api/staff/second-factor, POST /api/staff/{staff_id}/second-factor/reset: administrators.

The secret is answered only by the enrolment's start, to the person enrolling, and never logged.
"""

import asyncio
import hmac
import logging
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import segno
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from console.auth import login_steps, rate_limit
from console.auth.address_locks import AddressLocks
from console.auth.api import Me, client_ip, open_session, secure_cookie
from console.auth.current import CurrentUser, StaffPrincipal, require_role
from console.auth.metrics import LOGIN_FAILURES, LOGIN_THROTTLED
from console.auth.sessions import CSRF_HEADER
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from console.pages import NO_STORE, ROLE_NAMES, local_target, templates
from registry import second_factor
from registry import staff as staff_registry
from registry.model import StaffRole, StaffUser
from registry.second_factor import EnrolmentNotBegun, SecondFactorError, SecondFactorUnavailable
from registry.second_factor_model import LoginStage, SecondFactorChange
from registry.staff_passwords import MAX_LENGTH, verify_password

log = logging.getLogger(__name__)
router = APIRouter(tags=["second factor"])

BAD_CODE = "wrong code, or a code already used: type the code the app shows now, or a recovery code"
TOO_MANY_CODES = "too many wrong codes: log in again with the password"
NO_STEP = "no login in progress, or it has expired: log in again (POST /api/login)"

Administrator = Annotated[StaffPrincipal, Depends(require_role(StaffRole.ADMINISTRATOR))]


class CodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Six digits from the app, or a recovery code (xxxx-xxxx-xxxx-xxxx).
    code: Annotated[str, Field(min_length=1, max_length=64)]


class DisableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Either the account's password or a current code (the app's, or a recovery code).
    password: Annotated[str | None, Field(min_length=1, max_length=MAX_LENGTH)] = None
    code: Annotated[str | None, Field(min_length=1, max_length=64)] = None


class EnrolmentView(BaseModel):
    """Shown once, to the person enrolling: what their authenticator app needs."""

    secret: str
    otpauth_uri: str
    # The same URI as a QR code: an SVG image in a data: URI (made here, nothing fetched).
    qr_svg: str


class RecoveryCodes(BaseModel):
    # Each works once, in place of a code, when the phone is lost. Shown this once only.
    recovery_codes: list[str]


class EnrolledLogin(Me, RecoveryCodes):
    """Enrolment at login done: the session is open, and the recovery codes are shown once."""


class SecondFactorState(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
    # The centre's policy requires it of this person's role ([console] require_2fa_for).
    required: bool
    # This person may turn it on (supervisors, administrators, and roles the policy requires it of).
    may_enrol: bool


class StaffSecondFactor(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    active: bool
    enabled: bool
    enabled_at: datetime | None
    required: bool
    # The latest change (enrolled, disabled, reset, recovery_code_used), when and by whom.
    last_change: str | None
    last_change_at: datetime | None
    last_change_by: str | None


class StaffSecondFactors(BaseModel):
    staff: list[StaffSecondFactor]


def _required_roles(request: Request) -> frozenset[str]:
    return frozenset(context_of(request).settings.require_2fa_for)


def _unavailable(exc: SecondFactorUnavailable) -> HTTPException:
    log.error("second factor unavailable: %s", exc)
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc))


def _enrolment_view(enrolment: second_factor.Enrolment) -> EnrolmentView:
    qr = segno.make_qr(enrolment.otpauth_uri, error="m")
    return EnrolmentView(
        secret=enrolment.secret,
        otpauth_uri=enrolment.otpauth_uri,
        qr_svg=qr.svg_data_uri(scale=5, border=3, title="Kod QR do aplikacji uwierzytelniającej"),
    )


async def pending_login(request: Request, session: SessionDep, clock: ClockDep) -> login_steps.LiveStep:
    """The login step the browser is in (its cookie), with the step's CSRF token checked."""
    async with session.begin():
        step = await login_steps.find(session, token=request.cookies.get(login_steps.COOKIE, ""), now=clock.now())
    if step is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=NO_STEP)
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), step.csrf_token.encode()):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"missing or wrong CSRF token: send the login's csrf_token in {CSRF_HEADER}",
        )
    return step


PendingLogin = Annotated[login_steps.LiveStep, Depends(pending_login)]


def _end_step_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        login_steps.COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookie(request)
    )


async def _guarded(
    request: Request,
    session: AsyncSession,
    now: datetime,
    *,
    staff: StaffUser,
    code: str | None,
    password: str | None = None,
) -> bool:
    """Whether `code` (or else `password`) is right for `staff`, asked through the login throttle:
    429 while this address must wait for this name; each try counted as a failure until it proves
    right. A right code is used up (and the caller commits it with whatever it opens)."""
    settings = context_of(request).settings
    address = client_ip(request)
    turns: AddressLocks = request.app.state.login_turns
    data_key = context_of(request).data_key
    async with turns.turn(address):
        async with session.begin():
            wait = await rate_limit.retry_after(
                session, username=staff.username, client_ip=address, now=now, settings=settings
            )
            if wait is None:
                await rate_limit.purge_old(session, now=now, settings=settings)
                attempt_id = await rate_limit.record_attempt(
                    session,
                    username=staff.username,
                    client_ip=address,
                    now=now,
                    factor="code" if code is not None else "password",
                )
        if wait is not None:
            LOGIN_THROTTLED.inc()
            log.warning("second-factor check throttled for %d s (from %s)", wait, address)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"too many wrong codes or passwords; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        if code is not None:
            try:
                async with session.begin():
                    right = await second_factor.check_code(
                        session, data_key, staff_id=staff.id, code=code, now=now, client_ip=address
                    )
                    if right:
                        await rate_limit.forget(session, attempt_id=attempt_id)
            except SecondFactorUnavailable as exc:
                raise _unavailable(exc) from None
        else:
            right = await asyncio.to_thread(verify_password, staff.password_hash, password or "")
            if right:
                async with session.begin():
                    await rate_limit.forget(session, attempt_id=attempt_id)
    if not right:
        LOGIN_FAILURES.inc()
        log.warning("wrong second-factor code or password for staff %d (from %s)", staff.id, address)
    return right


def _login_url(target: str) -> str:
    return f"/login?next={quote(target, safe='/')}"


@router.get("/login/second-factor", include_in_schema=False)
async def second_step_page(request: Request, session: SessionDep, clock: ClockDep, next: str = "/") -> Response:
    """The login's second step: the code, or the enrolment the role requires. Without a login in
    progress (expired, done, or never begun), a page saying so, with the way back to /login."""
    target = local_target(next)
    async with session.begin():
        step = await login_steps.find(session, token=request.cookies.get(login_steps.COOKIE, ""), now=clock.now())
    if step is None:
        context: dict[str, object] = {"stage": "none", "next": target, "login_url": _login_url(target)}
        return templates.TemplateResponse(request, "login_second_factor.html", context, headers=NO_STORE)
    role = StaffRole(step.staff.role)
    context = {
        "login_url": _login_url(target),
        "stage": step.stage.value,
        "next": target,
        "csrf_token": step.csrf_token,
        "full_name": step.staff.full_name,
        "role_name": ROLE_NAMES.get(role, role.value),
    }
    return templates.TemplateResponse(request, "login_second_factor.html", context, headers=NO_STORE)


@router.post(
    "/api/login/code",
    response_model=Me,
    responses={401: {"description": BAD_CODE}, 429: {"description": "too many wrong codes; see Retry-After"}},
)
async def login_code(
    body: CodeRequest, step: PendingLogin, request: Request, response: Response, session: SessionDep, clock: ClockDep
) -> Me | JSONResponse:
    """The login's second step: the authenticator's code (or a recovery code) opens the session."""
    if step.stage != LoginStage.CODE:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this login must enrol a second factor first")
    now = clock.now()
    if not await _guarded(request, session, now, staff=step.staff, code=body.code):
        async with session.begin():
            ended = await login_steps.wrong_code(session, step_id=step.id)
        if not ended:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=BAD_CODE)
        refused = JSONResponse({"detail": TOO_MANY_CODES}, status_code=status.HTTP_401_UNAUTHORIZED)
        _end_step_cookie(request, refused)
        return refused
    async with session.begin():
        await login_steps.end(session, step_id=step.id)
        me = await open_session(session, request, response, staff=step.staff, now=now)
    _end_step_cookie(request, response)
    return me


@router.post("/api/login/enrolment", responses={409: {"description": "this login is not one that must enrol"}})
async def login_enrolment(step: PendingLogin, request: Request, session: SessionDep, clock: ClockDep) -> EnrolmentView:
    """Begin the enrolment a login must make before its session opens (the role requires it)."""
    if step.stage != LoginStage.ENROL:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this login has a second factor: type its code")
    try:
        async with session.begin():
            enrolment = await second_factor.begin_enrolment(
                session,
                context_of(request).data_key,
                staff_id=step.staff.id,
                username=step.staff.username,
                now=clock.now(),
            )
    except SecondFactorUnavailable as exc:
        raise _unavailable(exc) from None
    except SecondFactorError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    log.info("staff %d began enrolling a second factor at login", step.staff.id)
    return _enrolment_view(enrolment)


@router.post(
    "/api/login/enrolment/confirm", responses={422: {"description": "wrong code"}, 409: {"description": "not begun"}}
)
async def login_enrolment_confirm(
    body: CodeRequest, step: PendingLogin, request: Request, response: Response, session: SessionDep, clock: ClockDep
) -> EnrolledLogin:
    """Finish the enrolment with a code from the app: the session opens, the recovery codes are shown once."""
    if step.stage != LoginStage.ENROL:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="this login has a second factor: type its code")
    now = clock.now()
    try:
        async with session.begin():
            codes = await second_factor.confirm_enrolment(
                session,
                context_of(request).data_key,
                staff_id=step.staff.id,
                code=body.code,
                now=now,
                client_ip=client_ip(request),
            )
            await login_steps.end(session, step_id=step.id)
            me = await open_session(session, request, response, staff=step.staff, now=now)
    except SecondFactorUnavailable as exc:
        raise _unavailable(exc) from None
    except EnrolmentNotBegun as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except SecondFactorError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    _end_step_cookie(request, response)
    log.info("staff %d enrolled a second factor at login", step.staff.id)
    return EnrolledLogin(user=me.user, csrf_token=me.csrf_token, recovery_codes=codes)


@router.get("/api/me/second-factor")
async def my_second_factor(user: CurrentUser, request: Request, session: SessionDep) -> SecondFactorState:
    """Whether the logged-in person's second factor is on (never its secret)."""
    async with session.begin():
        state = await second_factor.status(session, staff_id=user.id)
    required = _required_roles(request)
    return SecondFactorState(
        enabled=state.enabled,
        enabled_at=state.enabled_at,
        recovery_codes_left=state.recovery_codes_left,
        required=second_factor.required_for(user.role, required),
        may_enrol=second_factor.may_enrol(user.role, required),
    )


def _may_enrol(request: Request, user: StaffPrincipal) -> None:
    if not second_factor.may_enrol(user.role, _required_roles(request)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"a {user.role.value} may not do this; it needs one of: administrator, supervisor",
        )


@router.post("/api/me/second-factor/enrolment", responses={409: {"description": "already on"}})
async def begin_my_enrolment(
    user: CurrentUser, request: Request, session: SessionDep, clock: ClockDep
) -> EnrolmentView:
    """Begin turning the second factor on: a new secret, as text, URI and QR code. Not in force
    until POST /api/me/second-factor/confirm gets a right code from it."""
    _may_enrol(request, user)
    try:
        async with session.begin():
            enrolment = await second_factor.begin_enrolment(
                session, context_of(request).data_key, staff_id=user.id, username=user.username, now=clock.now()
            )
    except SecondFactorUnavailable as exc:
        raise _unavailable(exc) from None
    except SecondFactorError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    log.info("staff %d began enrolling a second factor", user.id)
    return _enrolment_view(enrolment)


@router.post(
    "/api/me/second-factor/confirm", responses={422: {"description": "wrong code"}, 409: {"description": "not begun"}}
)
async def confirm_my_enrolment(
    body: CodeRequest, user: CurrentUser, request: Request, session: SessionDep, clock: ClockDep
) -> RecoveryCodes:
    """Turn the second factor on with a right code from the app; the recovery codes are shown once."""
    _may_enrol(request, user)
    try:
        async with session.begin():
            codes = await second_factor.confirm_enrolment(
                session,
                context_of(request).data_key,
                staff_id=user.id,
                code=body.code,
                now=clock.now(),
                client_ip=client_ip(request),
            )
    except SecondFactorUnavailable as exc:
        raise _unavailable(exc) from None
    except EnrolmentNotBegun as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except SecondFactorError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    log.info("staff %d turned the second factor on", user.id)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/api/me/second-factor/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        409: {"description": "the centre requires it of this role"},
        422: {"description": "wrong password or code"},
        429: {"description": "too many wrong tries; see Retry-After"},
    },
)
async def disable_mine(
    body: DisableRequest, user: CurrentUser, request: Request, session: SessionDep, clock: ClockDep
) -> Response:
    """Turn the second factor off, proven by the password or a current code (through the login
    throttle: a stolen session cannot guess either at leisure)."""
    if (body.password is None) == (body.code is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="give either the password or a code")
    if second_factor.required_for(user.role, _required_roles(request)):
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="the centre requires a second factor of your role: it cannot be turned off"
        )
    async with session.begin():
        staff = await session.get(StaffUser, user.id)
        enabled = await second_factor.is_enabled(session, staff_id=user.id)
    if staff is None or not enabled:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="the second factor is not on")
    now = clock.now()
    if not await _guarded(request, session, now, staff=staff, code=body.code, password=body.password):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="wrong password or code")
    async with session.begin():
        await second_factor.remove(
            session,
            staff_id=user.id,
            actor_id=user.id,
            now=now,
            client_ip=client_ip(request),
            what=SecondFactorChange.DISABLED,
        )
    log.info("staff %d turned the second factor off", user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/staff/second-factor")
async def staff_second_factors(user: Administrator, request: Request, session: SessionDep) -> StaffSecondFactors:
    """Every account: second factor on or off, required or not, and its latest change (the audit)."""
    required = _required_roles(request)
    async with session.begin():
        accounts = await staff_registry.all_accounts(session)
        enabled = await second_factor.enabled_since(session)
        changes = await second_factor.last_changes(session)
    names = {member.id: member.username for member, _ in accounts}
    rows = []
    for member, _codes in accounts:
        change = changes.get(member.id)
        by = None
        if change is not None:
            by = names.get(change.actor_id, "?") if change.actor_id is not None else "wiersz poleceń"
        rows.append(
            StaffSecondFactor(
                id=member.id,
                username=member.username,
                full_name=member.full_name,
                role=member.role,
                active=member.active,
                enabled=member.id in enabled,
                enabled_at=enabled.get(member.id),
                required=second_factor.required_for(member.role, required),
                last_change=change.what if change else None,
                last_change_at=change.at if change else None,
                last_change_by=by,
            )
        )
    return StaffSecondFactors(staff=rows)


@router.post(
    "/api/staff/{staff_id}/second-factor/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such account"}},
)
async def reset_second_factor(
    staff_id: DbId, user: Administrator, request: Request, session: SessionDep, clock: ClockDep
) -> Response:
    """Take away another person's second factor (a lost phone), audited; their sessions end, and
    they enrol again at their next login if their role requires it."""
    async with session.begin():
        member = await session.get(StaffUser, staff_id)
        if member is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no staff account {staff_id}")
        had = await second_factor.remove(
            session,
            staff_id=staff_id,
            actor_id=user.id,
            now=clock.now(),
            client_ip=client_ip(request),
            what=SecondFactorChange.RESET,
        )
        if had and staff_id != user.id:
            await staff_registry.remove_sessions(session, staff_id=staff_id)
    log.info("staff %d reset the second factor of staff %d (had one: %s)", user.id, staff_id, had)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
