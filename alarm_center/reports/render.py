"""One report, in the format asked for."""

from __future__ import annotations

import json
from dataclasses import asdict

from pydantic import TypeAdapter

from alarm_center.reports.csv_export import report_csv
from alarm_center.reports.funder_lines import funder_lines
from alarm_center.reports.labels import Lang
from alarm_center.reports.monthly import MonthlyReport

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf", "json": "application/json"}
_AS_JSON = TypeAdapter(MonthlyReport)


def as_json(report: MonthlyReport, lang: Lang = Lang.PL) -> dict[str, object]:
    dumped: dict[str, object] = _AS_JSON.dump_python(report, mode="json")
    # The funder's lines in words, as the PDF and CSV print them: the console's page shows these.
    if report.funder is not None:
        lines = funder_lines(report.funder, report.funder_previous, lang, report.funder_year)
        dumped["funder_lines"] = [asdict(line) for line in lines]
    return dumped


def render(report: MonthlyReport, *, format: str, lang: Lang = Lang.PL) -> bytes:
    if format == "csv":
        return report_csv(report, lang)
    if format == "json":
        return json.dumps(as_json(report, lang), ensure_ascii=False, indent=2).encode()
    if format == "pdf":
        # Imported here: matplotlib takes a second to load, and only the PDF draws.
        from alarm_center.reports.pdf import report_pdf

        return report_pdf(report, lang)
    raise ValueError(f"unknown report format {format!r}; one of: {', '.join(MEDIA_TYPES)}")
