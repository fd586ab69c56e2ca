"""What relatives read and hear: Jinja2 templates in config/templates/{language}/, Polish by default.

Templates hold only what a relative needs (the resident's first name, what happened, when, what is
being done, how to answer with the alarm code); never an address, a surname or medical notes, since
an SMS can be read by anyone holding the phone.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import Alarm
from alarm_center.notify.status_link import StatusLinks
from core.settings import PROJECT_ROOT
from registry.model import Contact, Municipality, Resident

TEMPLATES_DIR = PROJECT_ROOT / "config" / "templates"
DEFAULT_LANGUAGE = "pl"
DEFAULT_TIMEZONE = "Europe/Warsaw"
# The <Say> voice of each language we have templates for.
SAY_LANGUAGE = {"pl": "pl-PL", "en": "en-GB"}


@cache
def _environment(directory: Path) -> Environment:
    # Plain text, not HTML: no autoescape. TwiML escapes what it puts in XML itself.
    return Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # noqa: S701 - SMS and speech, not HTML
    )


def language_of(language: str | None, directory: Path = TEMPLATES_DIR) -> str:
    """The contact's language if we have templates for it, else Polish."""
    code = (language or "").strip().lower()[:2]
    return code if code and (directory / code).is_dir() else DEFAULT_LANGUAGE


def render(name: str, language: str | None = None, directory: Path = TEMPLATES_DIR, **context: Any) -> str:
    """Render `{language}/{name}.j2` as one line of text (whitespace runs collapsed)."""
    template = _environment(directory).get_template(f"{language_of(language, directory)}/{name}.j2")
    return " ".join(template.render(**context).split())


# -- the alarm code a relative answers with ---------------------------------------------------------------


def alarm_code(alarm_id: int) -> str:
    """The short code every SMS carries so a reply names its alarm (a relative may be a contact of two
    residents). The alarm's id: short, and typed on any keypad; a wrong code is caught by the From
    number, which must be one of that alarm's contacts."""
    return str(alarm_id)


_CODE = re.compile(r"^#?(\d{1,12})$")


def parse_alarm_code(token: str) -> int | None:
    match = _CODE.match(token)
    return int(match.group(1)) if match else None


# -- a relative's texts, from the database ----------------------------------------------------------------


async def alarm_context(session: AsyncSession, *, alarm_id: int) -> dict[str, Any] | None:
    """What the templates may say about an alarm: first name, kind, local time, code. None if gone."""
    row = (
        await session.execute(
            select(Alarm.kind, Alarm.raised_at, Resident.first_name, Municipality.timezone)
            .select_from(Alarm)
            .outerjoin(Resident, Resident.id == Alarm.resident_id)
            .outerjoin(Municipality, Municipality.id == Alarm.municipality_id)
            .where(Alarm.id == alarm_id)
        )
    ).first()
    if row is None:
        return None
    return {
        "first_name": row.first_name or "",
        "kind": row.kind,
        "time": local_time(row.raised_at, row.timezone),
        "code": alarm_code(alarm_id),
        "doing": "",
        "raised_at": row.raised_at,
        "link": "",
    }


def local_time(moment: datetime, timezone: str | None) -> str:
    try:
        zone = ZoneInfo(timezone or DEFAULT_TIMEZONE)
    except (ValueError, KeyError):
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    return moment.astimezone(zone).strftime("%H:%M")


async def contact_language(session: AsyncSession, contact_id: int | None) -> str:
    if contact_id is None:
        return DEFAULT_LANGUAGE
    language = (await session.execute(select(Contact.language).where(Contact.id == contact_id))).scalar_one_or_none()
    return language_of(language)


async def alert_text(
    session: AsyncSession,
    *,
    alarm_id: int,
    channel: str,
    links: StatusLinks | None,
    contact_id: int | None = None,
    doing: str = "",
) -> tuple[str, str]:
    """(template name, text) of the alert for this alarm on `channel` ("sms" or "voice"), in the
    contact's language: what an escalation step writes into its notification row. An SMS carries
    the contact's status link when `links` is given (None: links are off)."""
    name = "voice_alert" if channel == "voice" else "sms_alert"
    context = await alarm_context(session, alarm_id=alarm_id)
    if context is None:
        context = {"first_name": "", "kind": "", "time": "", "code": alarm_code(alarm_id), "doing": "", "link": ""}
    if doing:
        context["doing"] = doing
    if name == "sms_alert" and links is not None and "raised_at" in context:
        context["link"] = links.url(alarm_id=alarm_id, contact_id=contact_id, raised_at=context["raised_at"])
    return name, render(name, await contact_language(session, contact_id), **context)


async def unattended_text(session: AsyncSession, *, alarm_id: int, channel: str, language: str | None = None) -> str:
    """The page to the person on duty when no operator console is connected ("centrum bez
    operatora"), on `channel` ("sms" or "voice"): staff, in Polish unless told otherwise."""
    name = "unattended_voice" if channel == "voice" else "unattended_sms"
    context = await alarm_context(session, alarm_id=alarm_id)
    if context is None:
        context = {"first_name": "", "kind": "", "time": "", "code": alarm_code(alarm_id)}
    return render(name, language, **context)
