"""Times as the command line prints them: the centre's local time, with its zone, as the console
shows them ("2026-12-04 21:05 CET"), never bare UTC."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

CENTRE_ZONE = ZoneInfo("Europe/Warsaw")


def local(moment: datetime | None, *, seconds: bool = False, never: str = "never") -> str:
    if moment is None:
        return never
    here = moment.astimezone(CENTRE_ZONE)
    return f"{here:%Y-%m-%d %H:%M:%S %Z}" if seconds else f"{here:%Y-%m-%d %H:%M %Z}"
