"""The console's pages: login, the alarm queue, one alarm, the supervisor's overview.

Pages are plain HTML with a script each; everything they show comes from the JSON API and the live
WebSocket, so a page and an API client see the same thing. A page asked for without a login
redirects to the login page (the API answers 401 instead). Nothing is loaded from outside the
console: a centre's screens must work with no internet.
"""

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.auth import sessions
from console.auth.current import StaffPrincipal, principal_for_token
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from console.notifier_mode import in_test_mode
from registry.model import StaffRole

router = APIRouter(include_in_schema=False)


def _map_context(request: Request) -> dict[str, object]:
    """The map's tile URL and attribution, for base.html's meta tags (map.js reads them)."""
    settings = context_of(request).settings
    return {"map_tiles_url": settings.map_tiles_url, "map_attribution": settings.map_attribution}


def _test_mode_context(request: Request) -> dict[str, object]:
    """`test_mode`: SMS and calls are recorded, not sent (no Twilio); base.html's banner says so."""
    return {"test_mode": in_test_mode(context_of(request))}


templates = Jinja2Templates(
    directory=Path(__file__).resolve().parent / "templates", context_processors=[_map_context, _test_mode_context]
)

ROLE_NAMES = {
    StaffRole.OPERATOR: "operator",
    StaffRole.SUPERVISOR: "koordynator zmiany",
    StaffRole.TECHNICIAN: "technik",
    StaffRole.ADMINISTRATOR: "administrator",
}
# Pages are never cached: they carry the session's CSRF token and must show the latest script.
NO_STORE = {"Cache-Control": "no-store"}


async def _viewer(request: Request, session: SessionDep, clock: ClockDep) -> StaffPrincipal | None:
    token = request.cookies.get(sessions.COOKIE, "")
    if not token:
        return None
    return await principal_for_token(session, token=token, now=clock.now(), settings=context_of(request).settings)


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


def _page(request: Request, name: str, user: StaffPrincipal, **extra: object) -> HTMLResponse:
    return templates.TemplateResponse(request, name, _context(user, **extra), headers=NO_STORE)


def refusal_page(request: Request, user: StaffPrincipal, name: str = "forbidden.html") -> HTMLResponse:
    """What a page says to a role it is not for: 403, with a page that says why."""
    return templates.TemplateResponse(request, name, _context(user), status_code=403, headers=NO_STORE)


def _context(user: StaffPrincipal, **extra: object) -> dict[str, object]:
    return {"user": user, "role_name": ROLE_NAMES.get(user.role, user.role), "csrf_token": user.csrf_token, **extra}


def local_target(next: str) -> str:
    """`next` if it is a path on this console, else "/": never a redirect to another site after login.

    Browsers read a backslash as a slash and drop tabs and newlines in a URL, so "/\\evil.example"
    and "/\t/evil.example" are both "//evil.example", another site: neither passes.
    """
    stray = "\\" in next or any(ord(c) < 0x20 or ord(c) == 0x7F for c in next)
    return next if next.startswith("/") and not next.startswith("//") and not stray else "/"


@router.get("/login")
async def login_page(request: Request, session: SessionDep, clock: ClockDep, next: str = "/") -> Response:
    target = local_target(next)
    if await _viewer(request, session, clock) is not None:
        return RedirectResponse(target, status_code=303)
    return templates.TemplateResponse(request, "login.html", {"next": target}, headers=NO_STORE)


@router.get("/")
async def queue_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    return _page(request, "queue.html", user)


@router.get("/alarms/{alarm_id}")
async def alarm_page(alarm_id: DbId, request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    # Whether this user may see the alarm is the API's to say; the page shows its answer.
    return _page(request, "alarm.html", user, alarm_id=alarm_id)


@router.get("/account")
async def account_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """Moje konto: the operator's own phone for calls from an alarm (PUT /api/me/phone)."""
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    return _page(request, "account.html", user)


@router.get("/supervisor")
async def supervisor_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    if user.role not in (StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR):
        return refusal_page(request, user)
    return _page(request, "supervisor.html", user)
