"""One line under each chart of the report, saying what a reader should see in it, from the figures
themselves (not a legend repeated)."""

from __future__ import annotations

from alarm_center.reports.labels import OUTCOMES, Lang, label
from alarm_center.reports.monthly import MonthlyReport


def _pct(part: int, whole: int, lang: Lang) -> str:
    text = f"{100 * part / whole:.1f}"
    return (text.replace(".", ",") if lang == Lang.PL else text) + " %"


def _wyniki(n: int) -> str:
    """Polish plural: 2–4 wyniki (not 12–14), otherwise wyników."""
    return "wyniki" if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14) else "wyników"


def daily(report: MonthlyReport, lang: Lang) -> str:
    days = report.days
    if not days or not any(d.life + d.technical for d in days):
        return "Brak alarmów w tym okresie." if lang == Lang.PL else "No alarms in this period."
    busiest = max(days, key=lambda d: (d.life + d.technical, -d.day.toordinal()))
    quiet = sum(1 for d in days if d.life + d.technical == 0)
    when = f"{busiest.day.day}.{busiest.day.month:02d}"
    total = busiest.life + busiest.technical
    if lang == Lang.PL:
        return f"Najwięcej alarmów {when} ({total}); dni bez żadnego alarmu: {quiet} z {len(days)}."
    return f"Most alarms on {when} ({total}); days with no alarm: {quiet} of {len(days)}."


def answers(report: MonthlyReport, lang: Lang) -> str:
    a = report.answer
    if a.claimed == 0:
        if lang == Lang.PL:
            return "Żaden alarm o osobie nie został w tym okresie przyjęty przez operatora."
        return "No alarm about a person was claimed by an operator in this period."
    within = {t.target_s: t for t in a.targets}
    parts = []
    for seconds in (60, 180):
        target = within.get(seconds)
        if target is not None and target.counted:
            parts.append(f"≤ {seconds} s: {target.met}/{target.counted} ({_pct(target.met, target.counted, lang)})")
    if lang == Lang.PL:
        return f"Zielone: przyjęte w 60 s, pomarańczowe: do 180 s, czerwone: później. {'; '.join(parts)}."
    return f"Green: claimed within 60 s, amber: within 180 s, red: later. {'; '.join(parts)}."


def outcomes(shown: list[tuple[str, int]], lang: Lang) -> str:
    total = sum(count for _, count in shown)
    top, count = shown[-1]  # sorted ascending
    tied = sum(1 for _, c in shown if c == count)
    if tied > 1:
        if lang == Lang.PL:
            return f"Żaden wynik nie przeważa: {tied} {_wyniki(tied)} po {count} z {total} alarmów SOS i upadków."
        return f"No outcome prevails: {tied} outcomes with {count} each of {total} SOS and fall alarms."
    name = label(OUTCOMES, lang, top)
    if lang == Lang.PL:
        return f"Najczęstszy wynik: {name} ({count} z {total} alarmów SOS i upadków, {_pct(count, total, lang)})."
    return f"The most frequent outcome: {name} ({count} of {total} SOS and fall alarms, {_pct(count, total, lang)})."


def participants(report: MonthlyReport, lang: Lang) -> str:
    series = report.participants_by_month
    (first_month, first), (last_month, last) = series[0], series[-1]
    change = last - first
    signed = f"+{change}" if change > 0 else str(change)
    first_words, last_words = _month_words(first_month), _month_words(last_month)
    if lang == Lang.PL:
        return f"Uczestnicy na koniec {last_words}: {last}; na koniec {first_words}: {first} ({signed})."
    return f"Participants at the end of {last_words}: {last}; at the end of {first_words}: {first} ({signed})."


def _month_words(month: str) -> str:
    return f"{month[5:7]}.{month[:4]}"
