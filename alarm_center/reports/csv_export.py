"""The monthly report as CSV: one figure a line, `key;label;value`.

The key is stable (for spreadsheets and tests), the label is for people, in the report's language.
Polish Excel opens it by double-click: UTF-8 with a BOM, `;` between fields, CRLF, the decimal
comma in Polish (a dot in English), local time (Europe/Warsaw).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from alarm_center.quality.sla import LOCAL
from alarm_center.reports.funder_lines import funder_lines
from alarm_center.reports.labels import (
    AGE_BANDS,
    BAND_STATES,
    CHANNELS,
    KINDS,
    NOTIFICATION_STATUSES,
    OUTCOMES,
    SERVICES,
    SEXES,
    Lang,
    label,
    t,
)
from alarm_center.reports.monthly import MonthlyReport
from alarm_center.reports.period import at_end_words
from core.spreadsheet import as_text

Row = tuple[str, str, str]


def number(value: float | None, lang: Lang, digits: int = 1) -> str:
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == Lang.PL else text


def percent(share: float | None, lang: Lang) -> str:
    return number(None if share is None else share * 100, lang)


def local(moment: datetime) -> str:
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S")


def bucket_key(upper: int | None, previous: int) -> str:
    return f"le_{upper}" if upper is not None else f"gt_{previous}"


def rows(report: MonthlyReport, lang: Lang = Lang.PL) -> list[Row]:
    """Every figure of the report, in order."""
    out: list[Row] = []

    def add(key: str, text: str, value: object) -> None:
        out.append((key, text, value if isinstance(value, str) else str(value)))

    add("municipality.code", t(lang, "municipality_code"), as_text(report.municipality_code))
    add("municipality.name", t(lang, "municipality"), as_text(report.municipality_name))
    if report.is_centre:
        add("municipalities", t(lang, "municipalities"), as_text(", ".join(report.municipalities)))
    if report.programme:
        add("programme", t(lang, "programme"), as_text(report.programme))
    add("month", t(lang, "month"), report.month)
    add("period.start", t(lang, "period_start"), local(report.period_start))
    add("period.end", t(lang, "period_end"), local(report.period_end))
    add("generated_at", t(lang, "generated_at"), local(report.generated_at))
    when = at_end_words(report.period_end, report.generated_at, lang)
    add("participants.at_end", t(lang, "participants_at_end", when=when), report.participants_at_end)
    add("participants.during", t(lang, "participants_during"), report.participants_during)
    if report.funder is not None:
        previous_month, year_to_date = t(lang, "previous_month"), t(lang, "year_to_date")
        for funder in funder_lines(report.funder, report.funder_previous, lang, report.funder_year):
            add(f"funder.{funder.key}", f"{funder.words} [{funder.base}]", funder.value)
            if funder.previous is not None:
                words = f"{funder.words} [{funder.base}] ({previous_month})"
                add(f"funder.{funder.key}.previous_month", words, funder.previous)
            if funder.year_to_date is not None:
                words = f"{funder.words} [{funder.base}] ({year_to_date})"
                add(f"funder.{funder.key}.year_to_date", words, funder.year_to_date)
    if report.sex_age is not None:
        for band, by_sex in report.sex_age.counts.items():
            for sex, count in by_sex.items():
                words = f"{t(lang, 'sex_age')}: {label(AGE_BANDS, lang, band)}, {label(SEXES, lang, sex)}"
                add(f"participants.age.{band}.{sex}", words, count)
    for month, count in report.participants_by_month:
        add(f"participants.at_end_of.{month}", t(lang, "participants_at_end_of", month=month), count)
    add("bands.total", t(lang, "bands_total"), report.bands_total)
    for state, count in report.bands_by_state.items():
        add(f"bands.state.{state}", f"{t(lang, 'bands_state')}: {label(BAND_STATES, lang, state)}", count)
    add("alarms.total", t(lang, "alarms_total"), report.alarms_total)
    add("alarms.test", t(lang, "alarms_test"), report.test_alarms)
    for kind, count in report.alarms_by_kind.items():
        add(f"alarms.kind.{kind}", f"{t(lang, 'alarms_kind')}: {label(KINDS, lang, kind)}", count)
    for kind, by_outcome in report.outcomes.items():
        for outcome, count in by_outcome.items():
            add(
                f"alarms.outcome.{kind}.{outcome}",
                f"{label(KINDS, lang, kind)}: {label(OUTCOMES, lang, outcome)}",
                count,
            )
    for service, count in report.dispatches.items():
        add(f"dispatches.{service}", f"{t(lang, 'dispatches')}: {label(SERVICES, lang, service)}", count)
    a = report.answer
    add("answer.alarms", t(lang, "answer_alarms"), a.alarms)
    add("answer.claimed", t(lang, "answer_claimed"), a.claimed)
    add("answer.unanswered", t(lang, "answer_unanswered"), a.unanswered)
    for target in a.targets:
        prefix = f"answer.within_{target.target_s}s"
        head = t(lang, "within", s=target.target_s)
        add(f"{prefix}.counted", f"{head}: {t(lang, 'target_counted')}", target.counted)
        add(f"{prefix}.met", f"{head}: {t(lang, 'target_met')}", target.met)
        add(f"{prefix}.missed", f"{head}: {t(lang, 'target_missed')}", target.missed)
        add(f"{prefix}.share_pct", f"{head}: {t(lang, 'target_share')}", percent(target.share, lang))
        add(f"{prefix}.required_pct", f"{head}: {t(lang, 'target_required')}", percent(target.required_share, lang))
        achieved = "" if target.achieved is None else t(lang, "yes" if target.achieved else "no")
        add(f"{prefix}.achieved", f"{head}: {t(lang, 'target_achieved')}", achieved)
    add("answer.median_claim_s", t(lang, "median_claim_s"), number(a.median_claim_s, lang))
    add("answer.p90_claim_s", t(lang, "p90_claim_s"), number(a.p90_claim_s, lang))
    add("answer.max_claim_s", t(lang, "max_claim_s"), number(a.max_claim_s, lang))
    add("answer.median_resolve_s", t(lang, "median_resolve_s"), number(a.median_resolve_s, lang))
    add("answer.overdue", t(lang, "overdue"), a.overdue)
    previous = 0
    for upper, count in a.distribution:
        words = t(lang, "bucket_le", s=upper) if upper is not None else t(lang, "bucket_gt", s=previous)
        add(f"answer.bucket.{bucket_key(upper, previous)}", f"{t(lang, 'distribution')}: {words}", count)
        previous = upper if upper is not None else previous
    for line in report.technical:
        head = f"{t(lang, 'technical')}: {label(KINDS, lang, line.kind)}"
        prefix = f"technical.{line.kind}"
        add(f"{prefix}.raised", f"{head}: {t(lang, 'tech_raised')}", line.raised)
        add(f"{prefix}.closed", f"{head}: {t(lang, 'tech_closed')}", line.closed)
        add(f"{prefix}.still_open", f"{head}: {t(lang, 'tech_still_open')}", line.still_open)
        add(f"{prefix}.auto_cleared", f"{head}: {t(lang, 'tech_auto_cleared')}", line.auto_cleared)
        add(f"{prefix}.total_hours", f"{head}: {t(lang, 'tech_total_hours')}", number(line.total_hours, lang, 2))
        add(f"{prefix}.median_hours", f"{head}: {t(lang, 'tech_median_hours')}", number(line.median_hours, lang, 2))
        add(f"{prefix}.max_hours", f"{head}: {t(lang, 'tech_max_hours')}", number(line.max_hours, lang, 2))
    add("notifications.total", t(lang, "notifications_total"), report.notifications_total)
    for channel, by_status in report.notifications.items():
        head = f"{t(lang, 'notifications')}: {label(CHANNELS, lang, channel)}"
        add(f"notifications.{channel}.total", f"{head}: {t(lang, 'total')}", sum(by_status.values()))
        for status, count in by_status.items():
            add(f"notifications.{channel}.{status}", f"{head}: {label(NOTIFICATION_STATUSES, lang, status)}", count)
    for day in report.days:
        add(f"day.{day.day.isoformat()}.life", f"{day.day.isoformat()}: {t(lang, 'life')}", day.life)
        add(
            f"day.{day.day.isoformat()}.technical",
            f"{day.day.isoformat()}: {t(lang, 'technical_short')}",
            day.technical,
        )
    return out


HEADERS = {Lang.PL: ("klucz", "opis", "wartość"), Lang.EN: ("key", "label", "value")}


def report_csv(report: MonthlyReport, lang: Lang = Lang.PL) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS[lang])
    writer.writerows(rows(report, lang))
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
