"""The report's period in words: "październik 2026 (1–31.10.2026)", and for a month not over yet
"listopad 2026, stan na 23.11.2026 14:05": a reader must never take half a month for a whole one."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alarm_center.reports.labels import Lang

LOCAL = ZoneInfo("Europe/Warsaw")

MONTHS = {
    Lang.PL: (
        *("styczeń", "luty", "marzec", "kwiecień", "maj", "czerwiec"),
        *("lipiec", "sierpień", "wrzesień", "październik", "listopad", "grudzień"),
    ),
    Lang.EN: (
        *("January", "February", "March", "April", "May", "June"),
        *("July", "August", "September", "October", "November", "December"),
    ),
}
AS_OF = {Lang.PL: "stan na", Lang.EN: "as of"}
AT_END = {Lang.PL: "na koniec miesiąca", Lang.EN: "at the end of the month"}
AT_DAY = {Lang.PL: "na dzień {day}", Lang.EN: "on {day}"}


def _day(moment: datetime) -> str:
    return f"{moment.day}.{moment.month:02d}.{moment.year}"


def is_unfinished(period_end: datetime, generated_at: datetime) -> bool:
    return generated_at < period_end


def period_words(period_start: datetime, period_end: datetime, generated_at: datetime, lang: Lang) -> str:
    """The month's name and its days; a month not over says up to when it counts."""
    start = period_start.astimezone(LOCAL)
    name = f"{MONTHS[lang][start.month - 1]} {start.year}"
    if is_unfinished(period_end, generated_at):
        now = generated_at.astimezone(LOCAL)
        return f"{name}, {AS_OF[lang]} {_day(now)} {now:%H:%M}"
    last = (period_end - timedelta(seconds=1)).astimezone(LOCAL)
    return f"{name} (1–{_day(last)})"


def at_end_words(period_end: datetime, generated_at: datetime, lang: Lang) -> str:
    """ "at the end of the month", or "on 23.11.2026" while the month is not over."""
    if is_unfinished(period_end, generated_at):
        return AT_DAY[lang].format(day=_day(generated_at.astimezone(LOCAL)))
    return AT_END[lang]


def local_time(moment: datetime) -> str:
    """A moment in the centre's time, with its zone: "5.11.2026 11:00 CET"."""
    here = moment.astimezone(LOCAL)
    return f"{_day(here)} {here:%H:%M} {here.tzname()}"
