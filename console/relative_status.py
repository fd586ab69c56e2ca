"""The page behind a relative's status link (`/s/<token>` in an alert SMS): where the alarm stands,
with no login. The token is the only key (see alarm_center/notify/status_link.py), so the page says
no more than the SMS did, plus the alarm's progress; it is never cached or indexed, and it refreshes
itself while the alarm is open."""

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import Alarm, AlarmStatus
from alarm_center.notify import repository
from alarm_center.notify.status_link import LinkExpired, LinkInvalid
from alarm_center.notify.templates import contact_language, local_time
from console.deps import ClockDep, SessionDep, StatusLinksDep

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")

# What the page says, per language. Outcomes in plain words: a relative needs to know whether an
# ambulance came or it was a false alarm, not our codes.
TEXTS = {
    "pl": {
        "title": "Status zgłoszenia",
        "kinds": {"sos": "wezwanie pomocy (SOS)", "fall": "wykryty upadek", "voice_call": "połączenie do centrum"},
        "raised": "Centrum alarmowe przyjęło zgłoszenie i kontaktuje się z podopiecznym.",
        "claimed": "Operator centrum alarmowego zajmuje się zgłoszeniem.",
        "going": "Jedna z bliskich osób potwierdziła, że jedzie na miejsce.",
        "resolved": "Zgłoszenie zakończone o {time}.",
        "cancelled": "Zgłoszenie odwołane o {time}: podopieczny potwierdził, że wszystko w porządku.",
        "outcomes": {
            "false_alarm": "To był fałszywy alarm.",
            "resident_ok_after_call": "Operator rozmawiał z podopiecznym: wszystko w porządku.",
            "relative_attended": "Na miejscu była bliska osoba.",
            "carer_sent": "Na miejsce wysłano opiekuna.",
            "ambulance_called": "Wezwano pogotowie ratunkowe (112).",
            "no_contact_help_dispatched": "Nie było kontaktu, na miejsce wysłano pomoc.",
            "forced_entry": "Na miejsce wezwano służby, które weszły do mieszkania.",
            "technical_fault": "To była usterka opaski.",
        },
        "raised_at": "Zgłoszenie o {time}",
        "refresh": "Strona odświeża się sama co 30 sekund.",
        "expired": "Ten link wygasł. W razie pytań zadzwoń do centrum alarmowego.",
        "invalid": "Nie ma takiego zgłoszenia.",
    },
    "en": {
        "title": "Alarm status",
        "kinds": {"sos": "call for help (SOS)", "fall": "fall detected", "voice_call": "call to the centre"},
        "raised": "The alarm centre has received the alarm and is contacting the resident.",
        "claimed": "An alarm centre operator is dealing with the alarm.",
        "going": "One of the relatives has confirmed they are on their way.",
        "resolved": "The alarm was closed at {time}.",
        "cancelled": "The alarm was cancelled at {time}: the resident confirmed they are fine.",
        "outcomes": {
            "false_alarm": "It was a false alarm.",
            "resident_ok_after_call": "The operator spoke to the resident: they are fine.",
            "relative_attended": "A relative was there.",
            "carer_sent": "A carer was sent.",
            "ambulance_called": "An ambulance was called (112).",
            "no_contact_help_dispatched": "There was no contact; help was sent.",
            "forced_entry": "Emergency services were called and entered the home.",
            "technical_fault": "It was a fault of the band.",
        },
        "raised_at": "Alarm at {time}",
        "refresh": "This page refreshes itself every 30 seconds.",
        "expired": "This link has expired. Call the alarm centre if you have questions.",
        "invalid": "No such alarm.",
    },
}
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


@dataclass(frozen=True)
class StatusPage:
    language: str
    first_name: str
    heading: str
    lines: list[str]
    open: bool


@router.get("/s/{token}", response_class=HTMLResponse)
async def relative_status(
    token: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    links: StatusLinksDep,
) -> HTMLResponse:
    if links is None:
        return _message(request, "pl", "invalid", 404)
    try:
        subject = links.read(token, now=clock.now())
    except LinkExpired:
        return _message(request, "pl", "expired", 410)
    except LinkInvalid:
        return _message(request, "pl", "invalid", 404)
    language = await contact_language(session, subject.contact_id)
    page = await _page(session, subject.alarm_id, language)
    if page is None:
        return _message(request, language, "invalid", 404)
    return templates.TemplateResponse(
        request, "relative_status.html", {"page": page, "texts": TEXTS[language]}, headers=HEADERS
    )


async def _page(session: AsyncSession, alarm_id: int, language: str) -> StatusPage | None:
    texts = TEXTS[language]
    row = await repository.alarm_with_place(session, alarm_id)
    if row is None:
        return None
    alarm: Alarm = row[0]
    timezone = row.timezone
    kinds: dict[str, str] = texts["kinds"]  # type: ignore[assignment]
    raised = str(texts["raised_at"]).format(time=local_time(alarm.raised_at, timezone))
    heading = f"{kinds.get(alarm.kind, alarm.kind)} · {raised}"
    lines: list[str] = []
    if alarm.status == AlarmStatus.RESOLVED:
        closed = local_time(alarm.closed_at or alarm.raised_at, timezone)
        lines.append(str(texts["resolved"]).format(time=closed))
        outcomes: dict[str, str] = texts["outcomes"]  # type: ignore[assignment]
        if alarm.outcome in outcomes:
            lines.append(outcomes[alarm.outcome])
    elif alarm.status == AlarmStatus.CANCELLED:
        lines.append(str(texts["cancelled"]).format(time=local_time(alarm.closed_at or alarm.raised_at, timezone)))
    else:
        lines.append(str(texts["claimed" if alarm.status == AlarmStatus.CLAIMED else "raised"]))
        if await repository.someone_going(session, alarm_id=alarm_id):
            lines.append(str(texts["going"]))
    return StatusPage(
        language, row.first_name or "", heading, lines, alarm.status in (AlarmStatus.RAISED, AlarmStatus.CLAIMED)
    )


def _message(request: Request, language: str, key: str, status_code: int) -> HTMLResponse:
    texts = TEXTS[language]
    return templates.TemplateResponse(
        request,
        "relative_status.html",
        {"page": None, "texts": texts, "message": texts[key]},
        status_code=status_code,
        headers=HEADERS,
    )
