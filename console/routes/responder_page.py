"""The responder's page behind `/r/<token>` (an SMS to whoever goes): where to go, how to get in,
the key-safe code on request, and three buttons. No login: the signed token is the key, for that
alarm and that person, and the page shows nothing once the alarm is closed. Polish, phone-sized,
never cached or indexed, no referrer sent anywhere."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import AlarmKind
from alarm_center.alarms.responder_visit import (
    MAX_NOTE,
    AlarmClosed,
    Press,
    Visit,
    audit_key_safe_opening,
    open_visit,
    press,
)
from alarm_center.notify.status_link import RESPONDER_PATH, LinkExpired, LinkInvalid, StatusLinks, Subject
from console.deps import ClockDep, SessionDep, StatusLinksDep, context_of
from console.key_safe import KeySafeUnavailable, read_key_safe_code
from core.clock import Clock

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
KINDS: dict[str, str] = {
    AlarmKind.SOS: "wezwanie pomocy (SOS)",
    AlarmKind.FALL: "wykryty upadek",
    AlarmKind.VOICE_CALL: "połączenie z centrum",
}
PRESSED = {
    Press.GOING: "Zapisane: jedziesz. Centrum alarmowe wie o tym.",
    Press.ARRIVED: "Zapisane: jesteś na miejscu. Dziękujemy.",
    Press.HANDLED: "Zapisane. Operator centrum zamknie zgłoszenie.",
}
PRESS_VALUES = frozenset(press.value for press in Press)
MESSAGES = {
    "invalid": "Nie ma takiego zgłoszenia.",
    "expired": "Ten link wygasł.",
    "closed": "Zgłoszenie jest zakończone; ten link już nie działa. W razie pytań zadzwoń do centrum alarmowego.",
}


def _subject(links: StatusLinks | None, token: str, clock: Clock) -> Subject | str:
    if links is None:
        return "invalid"
    try:
        return links.read_responder(token, now=clock.now())
    except LinkExpired:
        return "expired"
    except LinkInvalid:
        return "invalid"


async def _open(
    request: Request, session: AsyncSession, links: StatusLinks | None, token: str, clock: Clock
) -> tuple[Subject, Visit] | HTMLResponse:
    """Whom the token names and their visit; else the page saying why not (invalid, expired, closed)."""
    subject = _subject(links, token, clock)
    if isinstance(subject, str):
        return _message(request, subject)
    try:
        return subject, await open_visit(session, alarm_id=subject.alarm_id, contact_id=subject.contact_id)
    except AlarmClosed:
        return _message(request, "closed")


def _message(request: Request, key: str) -> HTMLResponse:
    code = {"invalid": 404, "expired": 410, "closed": 410}[key]
    return templates.TemplateResponse(
        request, "responder.html", {"message": MESSAGES[key]}, status_code=code, headers=HEADERS
    )


def _page(
    request: Request, visit: Visit, token: str, *, done: str = "", code: str = "", error: str = ""
) -> HTMLResponse:
    resident = visit.resident
    return templates.TemplateResponse(
        request,
        "responder.html",
        {
            "visit": visit,
            "kind": KINDS.get(visit.alarm.kind, visit.alarm.kind),
            "resident": resident,
            "has_key_safe": resident is not None and resident.key_safe_code_encrypted is not None,
            "action": f"{RESPONDER_PATH}{token}",
            "done": done,
            "code": code,
            "error": error,
            "max_note": MAX_NOTE,
        },
        headers=HEADERS,
    )


@router.get("/r/{token}", response_class=HTMLResponse)
async def responder_page(
    token: str, request: Request, session: SessionDep, clock: ClockDep, links: StatusLinksDep
) -> HTMLResponse:
    opened = await _open(request, session, links, token, clock)
    if isinstance(opened, HTMLResponse):
        return opened
    _, visit = opened
    pressed = request.query_params.get("done", "")
    return _page(request, visit, token, done=PRESSED[Press(pressed)] if pressed in PRESS_VALUES else "")


@router.post("/r/{token}/key-safe", response_class=HTMLResponse)
async def responder_key_safe(
    token: str, request: Request, session: SessionDep, clock: ClockDep, links: StatusLinksDep
) -> HTMLResponse:
    async with session.begin():
        opened = await _open(request, session, links, token, clock)
        if isinstance(opened, HTMLResponse):
            return opened
        subject, visit = opened
        stored = visit.resident.key_safe_code_encrypted if visit.resident else None
        if stored is None:
            return _page(request, visit, token, error="Dla tego mieszkańca nie zapisano kodu do sejfu na klucz.")
        try:
            code = read_key_safe_code(context_of(request).data_key, stored)
        except KeySafeUnavailable:
            return _page(request, visit, token, error="Kodu nie da się teraz odczytać: zadzwoń do centrum alarmowego.")
        await audit_key_safe_opening(session, visit, contact_id=subject.contact_id, at=clock.now())
    return _page(request, visit, token, code=code)


@router.post("/r/{token}/{what}", response_model=None)
async def responder_press(
    token: str,
    what: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    links: StatusLinksDep,
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    if what not in PRESS_VALUES:
        return _message(request, "invalid")
    async with session.begin():
        opened = await _open(request, session, links, token, clock)
        if isinstance(opened, HTMLResponse):
            return opened
        subject, visit = opened
        await press(session, visit, contact_id=subject.contact_id, what=Press(what), note=note, at=clock.now())
    # Post/redirect/get: a reload of the page does not press the button again.
    return RedirectResponse(f"{RESPONDER_PATH}{token}?done={what}", status_code=303, headers=HEADERS)
