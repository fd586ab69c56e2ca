"""The monthly report as a printable A4 PDF with charts.

Text is set in DejaVu Sans, embedded (the copy matplotlib ships, so no system font and nothing
fetched at run time): the PDF's 14 standard fonts have no ą, ć, ę, ł, ń, ś, ź, ż. Charts are
drawn by matplotlib in the same font and placed as images: through `Figure` itself, not pyplot,
whose global state is not safe for a server rendering two reports at once.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from fpdf import FPDF
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from alarm_center.alarms.lifecycle import LIFE, alarm_class
from alarm_center.reports import chart_captions
from alarm_center.reports.csv_export import number, percent
from alarm_center.reports.funder_lines import HEADINGS, funder_lines
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
from alarm_center.reports.period import at_end_words, local_time, period_words

FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
LIFE_RED = "#c62828"
TECH_GREY = "#78909c"
OK_GREEN = "#2e7d32"
WARN_AMBER = "#ef8f00"
WIDTH = 180.0  # mm of text width on A4 with 15 mm margins


class _Report(FPDF):
    def __init__(self, report: MonthlyReport, lang: Lang) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report = report
        self.words = lang
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(f"{t(lang, 'title')} — {report.municipality_name} — {report.month}")
        self.set_creator("opaska")

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(110)
        r = self.report
        self.cell(
            0,
            5,
            f"{r.municipality_name}{'' if r.is_centre else f' ({r.municipality_code})'} · {r.month} · "
            f"{t(self.words, 'page')} {self.page_no()}",
            align="C",
        )
        self.set_text_color(0)

    def heading(self, text: str, *, keep_with_mm: float = 40) -> None:
        # Never a heading alone at the foot of a page, its table on the next: `keep_with_mm` of
        # what follows must fit under it.
        if self.get_y() + 12 + min(keep_with_mm, 150) > 277:
            self.add_page()
        self.ln(3)
        self.set_font(FONT, "B", 12)
        self.set_text_color(30, 55, 80)
        self.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)
        self.set_draw_color(30, 55, 80)
        self.line(self.l_margin, self.get_y(), self.l_margin + WIDTH, self.get_y())
        self.ln(1.5)

    def table(self, header: list[str], rows: list[list[str]], widths: list[float]) -> None:  # type: ignore[override]
        # A short table is kept on one page rather than split after a row or two.
        needed = 6 + 5.5 * len(rows)
        if needed < 150 and self.get_y() + needed > 277:
            self.add_page()
        self.set_font(FONT, "B", 8.5)
        self.set_fill_color(232, 238, 244)
        for index, (text, width) in enumerate(zip(header, widths, strict=True)):
            self.cell(width, 6, text, border=1, fill=True, align="L" if index == 0 else "R")
        self.ln()
        self.set_font(FONT, "", 8.5)
        for row in rows:
            if self.get_y() > 270:
                self.add_page()
            for index, (text, width) in enumerate(zip(row, widths, strict=True)):
                self.cell(width, 5.5, text, border=1, align="L" if index == 0 else "R")
            self.ln()

    def chart(self, figure: Figure, height_mm: float, caption: str = "") -> None:
        """The figure, and under it one line saying what it shows (a reader looks, then reads)."""
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=200)
        if self.get_y() + height_mm + (5 if caption else 0) > 280:
            self.add_page()
        buffer.seek(0)
        self.image(buffer, x=self.l_margin, y=self.get_y(), w=WIDTH, h=height_mm)
        self.set_y(self.get_y() + height_mm + 1)
        if caption:
            self.set_font(FONT, "", 8)
            self.set_text_color(70)
            self.multi_cell(0, 4, caption, new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0)
        self.ln(1)


def _figure(height_mm: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH / 25.4, height_mm / 25.4), layout="constrained")
    axes = figure.add_subplot()
    axes.tick_params(labelsize=7.5)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _daily_chart(report: MonthlyReport, lang: Lang) -> Figure:
    figure, axes = _figure(55)
    days = [str(day.day.day) for day in report.days]
    life = [day.life for day in report.days]
    technical = [day.technical for day in report.days]
    axes.bar(days, life, color=LIFE_RED, label=t(lang, "life"))
    axes.bar(days, technical, bottom=life, color=TECH_GREY, label=t(lang, "technical_short"))
    axes.set_title(t(lang, "days"), loc="left", fontsize=9)
    axes.set_xlabel(t(lang, "day"))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    # An empty month keeps an axis from 0 up, not one around zero.
    axes.set_ylim(0, max([life_n + tech_n for life_n, tech_n in zip(life, technical, strict=True)] + [1]) * 1.1)
    axes.legend(frameon=False, loc="upper right")
    return figure


def _bucket_names(report: MonthlyReport, lang: Lang) -> list[str]:
    names, previous = [], 0
    for upper, _ in report.answer.distribution:
        names.append(f"≤ {upper} s" if upper is not None else f"> {previous} s")
        previous = upper if upper is not None else previous
    return names


def _answer_chart(report: MonthlyReport, lang: Lang) -> Figure:
    figure, axes = _figure(55)
    names = _bucket_names(report, lang)
    counts = [count for _, count in report.answer.distribution]
    colours = [
        OK_GREEN
        if upper is not None and upper <= 60
        else WARN_AMBER
        if upper is not None and upper <= 180
        else LIFE_RED
        for upper, _ in report.answer.distribution
    ]
    bars = axes.bar(names, counts, color=colours)
    axes.bar_label(bars, padding=2)
    axes.set_title(t(lang, "distribution"), loc="left", fontsize=9)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max([*counts, 1]) * 1.2)
    return figure


def _life_outcomes(report: MonthlyReport) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for kind, by_outcome in report.outcomes.items():
        if alarm_class(kind) != LIFE:
            continue
        for outcome, count in by_outcome.items():
            totals[outcome] = totals.get(outcome, 0) + count
    return sorted(((o, c) for o, c in totals.items() if c), key=lambda pair: pair[1])


def _outcome_height(report: MonthlyReport) -> float:
    return 14.0 + 6.5 * len(_life_outcomes(report))


def _outcome_chart(report: MonthlyReport, lang: Lang) -> Figure | None:
    shown = _life_outcomes(report)
    if not shown:
        return None
    figure, axes = _figure(_outcome_height(report))
    bars = axes.barh([label(OUTCOMES, lang, o) for o, _ in shown], [c for _, c in shown], color=LIFE_RED)
    axes.bar_label(bars, padding=2)
    axes.set_xlim(0, max(c for _, c in shown) * 1.15)
    axes.set_title(f"{t(lang, 'life')}: {t(lang, 'outcome').lower()}", loc="left", fontsize=9)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _share(share: float | None, lang: Lang) -> str:
    return "–" if share is None else f"{percent(share, lang)} %"


def _title_block(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    pdf.add_page()
    pdf.set_font(FONT, "B", 17)
    pdf.cell(0, 9, t(lang, "title"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 11)
    if report.centre_name:
        pdf.cell(0, 6, f"{t(lang, 'centre')}: {report.centre_name}", new_x="LMARGIN", new_y="NEXT")
    if report.programme:
        pdf.cell(0, 6, f"{t(lang, 'programme')}: {report.programme}", new_x="LMARGIN", new_y="NEXT")
    if report.is_centre:
        pdf.set_font(FONT, "", 9)
        scope = t(lang, "centre_scope", n=len(report.municipalities))
        pdf.multi_cell(0, 5, f"{scope}: {', '.join(report.municipalities)}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 11)
    else:
        pdf.cell(
            0,
            6,
            f"{t(lang, 'municipality')}: {report.municipality_name} ({report.municipality_code})",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.cell(
        0,
        6,
        f"{t(lang, 'month')}: {period_words(report.period_start, report.period_end, report.generated_at, lang)}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font(FONT, "", 8.5)
    pdf.set_text_color(90)
    pdf.cell(
        0,
        5,
        f"{t(lang, 'generated_at')}: {local_time(report.generated_at)}. {t(lang, 'anonymity')}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(0)


def _summary_section(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    yes_no = {True: t(lang, "yes"), False: t(lang, "no"), None: "–"}
    pdf.heading(t(lang, "summary"))
    summary = [
        [
            t(lang, "participants_at_end", when=at_end_words(report.period_end, report.generated_at, lang)),
            str(report.participants_at_end),
        ],
        [t(lang, "participants_during"), str(report.participants_during)],
        [t(lang, "bands_total"), str(report.bands_total)],
        [t(lang, "alarms_total"), str(report.alarms_total)],
        [t(lang, "alarms_test"), str(report.test_alarms)],
        [t(lang, "notifications_total"), str(report.notifications_total)],
    ]
    for target in report.answer.targets:
        summary.append(
            [
                f"{t(lang, 'within', s=target.target_s)} "
                f"({t(lang, 'target_word')} {percent(target.required_share, lang)} %)",
                f"{_share(target.share, lang)} ({target.met}/{target.counted}) · "
                f"{t(lang, 'target_achieved')}: {yes_no[target.achieved]}",
            ]
        )
    pdf.table([t(lang, "figure"), t(lang, "value")], summary, [110, 70])
    pdf.ln(4)
    pdf.chart(_daily_chart(report, lang), 55, chart_captions.daily(report, lang))


def _outcome_section(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    pdf.heading(t(lang, "alarms_outcome"))
    # SOS and falls always; any other kind only in a month that had one (a column per kind that
    # never happened would squeeze the table past reading).
    shown = [k for k in report.outcomes if k in ("sos", "fall") or report.alarms_by_kind.get(k, 0) > 0]
    life_kinds = [k for k in shown if alarm_class(k) == LIFE]
    life_kinds.sort(key=lambda k: (k != "sos", k != "fall", k))
    tech_kinds = [k for k in report.outcomes if alarm_class(k) != LIFE]
    for kinds in (life_kinds, tech_kinds):
        outcome_rows = []
        for outcome in dict.fromkeys(o for kind in kinds for o in report.outcomes[kind]):
            counts = [report.outcomes[kind].get(outcome) for kind in kinds]
            if not any(counts):
                continue
            outcome_rows.append([label(OUTCOMES, lang, outcome), *("" if c is None else str(c) for c in counts)])
        outcome_rows.append([t(lang, "total"), *(str(report.alarms_by_kind.get(kind, 0)) for kind in kinds)])
        pdf.table(
            [t(lang, "outcome"), *(label(KINDS, lang, kind) for kind in kinds)],
            outcome_rows,
            [60, *([120 / len(kinds)] * len(kinds))],
        )
        pdf.ln(2)
    if any(report.dispatches.values()):
        pdf.table(
            [t(lang, "dispatches"), ""],
            [[label(SERVICES, lang, service), str(count)] for service, count in report.dispatches.items()],
            [120, 60],
        )
        pdf.ln(2)
    outcome_chart = _outcome_chart(report, lang)
    if outcome_chart is not None:
        pdf.chart(outcome_chart, _outcome_height(report), chart_captions.outcomes(_life_outcomes(report), lang))
    elif report.alarms_total == 0:
        pdf.set_font(FONT, "", 9)
        pdf.cell(0, 6, t(lang, "no_alarms"), new_x="LMARGIN", new_y="NEXT")


def _answer_section(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    a = report.answer
    pdf.heading(t(lang, "answer"))
    answer_rows = [
        [t(lang, "answer_alarms"), str(a.alarms)],
        [t(lang, "answer_claimed"), str(a.claimed)],
        [t(lang, "answer_unanswered"), str(a.unanswered)],
        [t(lang, "median_claim_s"), number(a.median_claim_s, lang) or "–"],
        [t(lang, "p90_claim_s"), number(a.p90_claim_s, lang) or "–"],
        [t(lang, "max_claim_s"), number(a.max_claim_s, lang) or "–"],
        [t(lang, "median_resolve_s"), number(a.median_resolve_s, lang) or "–"],
        [t(lang, "overdue"), str(a.overdue)],
    ]
    pdf.table([t(lang, "figure"), t(lang, "value")], answer_rows, [110, 70])
    pdf.ln(2)
    pdf.chart(_answer_chart(report, lang), 55, chart_captions.answers(report, lang))


def _technical_section(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    pdf.heading(t(lang, "technical"))
    lines = report.technical
    technical_rows = [
        [t(lang, "tech_raised"), *(str(line.raised) for line in lines)],
        [t(lang, "tech_closed"), *(str(line.closed) for line in lines)],
        [t(lang, "tech_still_open"), *(str(line.still_open) for line in lines)],
        [t(lang, "tech_auto_cleared"), *(str(line.auto_cleared) for line in lines)],
        [t(lang, "tech_total_hours"), *(number(line.total_hours, lang, 2) for line in lines)],
        [t(lang, "tech_median_hours"), *(number(line.median_hours, lang, 2) or "–" for line in lines)],
        [t(lang, "tech_max_hours"), *(number(line.max_hours, lang, 2) or "–" for line in lines)],
    ]
    pdf.table(
        [t(lang, "figure"), *(label(KINDS, lang, line.kind) for line in lines)],
        technical_rows,
        [60, *([120 / len(lines)] * len(lines))],
    )


def _notification_section(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    pdf.heading(t(lang, "notifications"))
    statuses = list(dict.fromkeys(s for by in report.notifications.values() for s in by))
    channels = list(report.notifications)
    pdf.table(
        [t(lang, "status"), *(label(CHANNELS, lang, c) for c in channels)],
        [
            [
                label(NOTIFICATION_STATUSES, lang, status),
                *(str(report.notifications[c].get(status, 0)) for c in channels),
            ]
            for status in statuses
        ]
        + [[t(lang, "total"), *(str(sum(report.notifications[c].values())) for c in channels)]],
        [80, *([100 / len(channels)] * len(channels))],
    )


def _band_section(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    pdf.heading(t(lang, "bands_state"))
    pdf.table(
        [t(lang, "state"), t(lang, "count")],
        [[label(BAND_STATES, lang, state), str(count)] for state, count in report.bands_by_state.items()],
        [110, 70],
    )


def _funder_section(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    if report.funder is None:
        return
    heading, figure, base, month, previous, year = HEADINGS[lang]
    lines = funder_lines(report.funder, report.funder_previous, lang, report.funder_year)
    pdf.heading(heading, keep_with_mm=6 + 5.5 * len(lines))
    pdf.table(
        [figure, base, month, previous, year],
        [
            [line.words, line.base, str(line.value), _or_dash(line.previous), _or_dash(line.year_to_date)]
            for line in lines
        ],
        [80, 44, 18, 20, 18],
    )
    if report.funder_year is not None:
        _note(pdf, t(lang, "year_to_date_note"))


def _or_dash(value: int | None) -> str:
    return "–" if value is None else str(value)


def _note(pdf: _Report, text: str) -> None:
    """A small grey line under a table saying how to read it."""
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(70)
    pdf.multi_cell(0, 4, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)


def _participants_section(pdf: _Report, report: MonthlyReport, lang: Lang) -> None:
    """Who the participants are (EU projects ask by age band and sex) and how their number moved."""
    table = report.sex_age
    if table is None:
        return
    pdf.heading(t(lang, "sex_age"), keep_with_mm=6 + 5.5 * (len(table.counts) + 1))
    sexes = list(next(iter(table.counts.values())))
    rows = [
        [label(AGE_BANDS, lang, band), *(str(by_sex[sex]) for sex in sexes), str(sum(by_sex.values()))]
        for band, by_sex in table.counts.items()
    ]
    rows.append([t(lang, "total_people"), *(str(table.by_sex(sex)) for sex in sexes), str(table.total)])
    pdf.table(
        [t(lang, "age"), *(label(SEXES, lang, sex) for sex in sexes), t(lang, "total_people")],
        rows,
        [60, *([120 / (len(sexes) + 1)] * (len(sexes) + 1))],
    )
    _note(pdf, t(lang, "sex_age_base", day=f"{table.on.day}.{table.on.month:02d}.{table.on.year}"))
    if report.participants_by_month:
        pdf.ln(2)
        pdf.chart(_participants_chart(report, lang), 50, chart_captions.participants(report, lang))


def _participants_chart(report: MonthlyReport, lang: Lang) -> Figure:
    figure, axes = _figure(50)
    months = [f"{m[5:7]}.{m[2:4]}" for m, _ in report.participants_by_month]
    counts = [count for _, count in report.participants_by_month]
    bars = axes.bar(months, counts, color=["#90a4ae"] * (len(counts) - 1) + ["#1e3750"])
    axes.bar_label(bars, padding=2, fontsize=7)
    axes.set_title(t(lang, "participants_over_time"), loc="left", fontsize=9)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max([*counts, 1]) * 1.2)
    return figure


def _sources_note(pdf: _Report, lang: Lang) -> None:
    pdf.ln(3)
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(90)
    pdf.multi_cell(0, 4, t(lang, "sources"))


def report_pdf(report: MonthlyReport, lang: Lang = Lang.PL) -> bytes:
    """The report as an A4 PDF: title, then one section per part of the report, sources last."""
    pdf = _Report(report, lang)
    _title_block(pdf, report, lang)
    _summary_section(pdf, report, lang)
    _funder_section(pdf, report, lang)
    _participants_section(pdf, report, lang)
    _outcome_section(pdf, report, lang)
    _answer_section(pdf, report, lang)
    _technical_section(pdf, report, lang)
    _notification_section(pdf, report, lang)
    _band_section(pdf, report, lang)
    _sources_note(pdf, lang)
    return bytes(pdf.output())
