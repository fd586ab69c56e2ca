"""The import file, read on its own: its encoding and separator, its header, and each row checked
against the rules in docs/registry-import.md, with every problem by row and column, in Polish.
What needs the database (known municipalities, bands and residents) is `csv_import`'s.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import computed_field

from registry import validation
from registry.csv_plan import PLAN_COLUMN, read_plan
from registry.errors import RegistryError
from registry.identifiers import check_serial, normalise_imei

REQUIRED = ("gmina", "imie", "nazwisko")
RESIDENT_COLUMNS = ("data_urodzenia", "plec", "adres", "telefon", "jezyk", "uwagi_dostep")
BAND_COLUMNS = ("opaska_numer", "opaska_imei", "opaska_model")
CONTACT_FIELDS = ("imie_nazwisko", "telefon", "relacja", "klucz", "jezyk")
MAX_CONTACTS = 5
CONTACT_COLUMN = re.compile(rf"^kontakt([1-{MAX_CONTACTS}])_({'|'.join(CONTACT_FIELDS)})$")
MAX_BYTES = 10 * 1024 * 1024
YES = {"tak", "t", "1", "x", "yes", "y"}
NO = {"nie", "n", "0", "", "no"}


@dataclass(frozen=True)
class Problem:
    row: int  # as a spreadsheet numbers it: the header is row 1
    column: str
    message: str

    def __str__(self) -> str:
        where = f"wiersz {self.row}" + (f", kolumna {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ContactRow:
    number: int  # N of its kontaktN_ columns, which the plan's kontaktN names
    name: str
    phone: str
    relation: str
    has_key: bool
    language: str


@dataclass
class ResidentRow:
    row: int
    municipality: str
    first_name: str
    last_name: str
    birth_date: date | None
    address: str
    phone: str | None
    language: str
    access_notes: str
    sex: str | None = None
    contacts: list[ContactRow] = field(default_factory=list)
    # (kind, contact number in the row, instruction text), in order: see csv_plan.
    plan: list[tuple[str, int | None, str]] = field(default_factory=list)
    band_serial: str | None = None
    band_imei: str | None = None
    band_model: str = ""
    municipality_id: int | None = None


@dataclass
class ImportReport:
    """What an import found and did: the view the console's API returns as it is."""

    # How the file was read: "UTF-8", "UTF-8 (z BOM)" or "Windows-1250"; ";" or ",".
    encoding: str
    separator: str
    # Whether only a check was asked for (even a real import writes nothing when there are problems).
    dry_run: bool = True
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    # True only when everything was written (never in a dry run).
    written: bool = False
    residents: int = 0
    contacts: int = 0
    bands: int = 0

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented way to serialise a property
    @property
    def ok(self) -> bool:
        return not self.problems


def decode(data: bytes) -> tuple[str, str]:
    """(text, the encoding used): UTF-8 when the bytes are valid UTF-8 (with or without a BOM),
    otherwise Windows-1250, which Excel writes on Polish Windows as "CSV (rozdzielany przecinkami)".
    Trying UTF-8 strictly first is safe: Polish text in cp1250 is practically never valid UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "UTF-8 (z BOM)"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        # cp1250 leaves 5 bytes undefined; a file with them is neither encoding.
        return data.decode("cp1250", errors="replace"), "Windows-1250"


def sniff_separator(text: str) -> str:
    """`;` (Polish Excel) or `,`: whichever splits the header line into more columns."""
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") >= header.count(",") else ","


def _parse_date(value: str) -> date:
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValueError(value)


class _RowReader:
    """Reads one row, collecting problems instead of stopping at the first."""

    def __init__(self, number: int, values: dict[str, str], problems: list[Problem]) -> None:
        self.number = number
        self.values = values
        self.problems = problems

    def text(self, column: str, *, max_length: int, required: bool = False) -> str:
        value = self.values.get(column, "").strip()
        if required and not value:
            self.problem(column, "pole wymagane jest puste")
        elif len(value) > max_length:
            self.problem(column, f"najwyżej {max_length} znaków (jest {len(value)})")
        return value

    def checked_date(self, column: str, value: date, *, today: date) -> date | None:
        try:
            return validation.birth_date(value, today=today, field=column)
        except RegistryError as exc:
            self.problem(column, exc.message)
            return None

    def problem(self, column: str, message: str) -> None:
        self.problems.append(Problem(self.number, column, message))

    def checked(self, column: str, check: Callable[[str], str]) -> str | None:
        """The value as `check` normalises it; None when empty or refused (the refusal recorded)."""
        value = self.values.get(column, "").strip()
        if not value:
            return None
        try:
            return check(value)
        except RegistryError as exc:
            self.problem(column, exc.message)
            return None


def _header_problems(header: list[str]) -> list[Problem]:
    problems = [Problem(1, column, "brak wymaganej kolumny") for column in REQUIRED if column not in header]
    known = set(REQUIRED) | set(RESIDENT_COLUMNS) | set(BAND_COLUMNS)
    seen: set[str] = set()
    for column in header:
        if column in seen:
            problems.append(Problem(1, column, "kolumna powtórzona"))
        seen.add(column)
        if column and column not in known and not CONTACT_COLUMN.match(column) and not PLAN_COLUMN.match(column):
            problems.append(Problem(1, column, "nieznana kolumna (literówka? lista kolumn: docs/registry-import.md)"))
    return problems


def _read_row(reader: _RowReader, *, today: date) -> ResidentRow:
    birth: date | None = None
    raw_birth = reader.values.get("data_urodzenia", "").strip()
    if raw_birth:
        try:
            parsed = _parse_date(raw_birth)
        except ValueError:
            reader.problem("data_urodzenia", f"nieprawidłowa data {raw_birth!r} (RRRR-MM-DD lub DD.MM.RRRR)")
        else:
            birth = reader.checked_date("data_urodzenia", parsed, today=today)
    language = reader.checked("jezyk", lambda v: validation.language(v, field="jezyk"))
    row = ResidentRow(
        row=reader.number,
        municipality=reader.text("gmina", max_length=200, required=True),
        first_name=reader.text("imie", max_length=100, required=True),
        last_name=reader.text("nazwisko", max_length=100, required=True),
        birth_date=birth,
        address=reader.text("adres", max_length=300),
        phone=reader.checked("telefon", lambda v: validation.phone(v, field="telefon")),
        language=language or "pl",
        access_notes=reader.text("uwagi_dostep", max_length=2000),
        sex=reader.checked("plec", lambda v: validation.sex(v, field="plec") or ""),
    )
    for number in range(1, MAX_CONTACTS + 1):
        contact = _read_contact(reader, number)
        if contact is not None:
            row.contacts.append(contact)
    row.plan = read_plan(reader.values, {c.number for c in row.contacts}, reader.problem)
    serial = reader.checked("opaska_numer", check_serial)
    imei = reader.checked("opaska_imei", normalise_imei)
    row.band_serial, row.band_imei = serial, imei
    row.band_model = reader.text("opaska_model", max_length=100)
    if row.band_model and not (
        reader.values.get("opaska_numer", "").strip() or reader.values.get("opaska_imei", "").strip()
    ):
        reader.problem("opaska_model", "model opaski bez jej numeru ani IMEI")
    return row


def _read_contact(reader: _RowReader, number: int) -> ContactRow | None:
    prefix = f"kontakt{number}_"
    if not any(reader.values.get(prefix + name, "").strip() for name in CONTACT_FIELDS):
        return None
    name = reader.text(prefix + "imie_nazwisko", max_length=200, required=True)
    phone = reader.values.get(prefix + "telefon", "").strip()
    if not phone:
        reader.problem(prefix + "telefon", "kontakt bez numeru telefonu")
    checked_phone = reader.checked(prefix + "telefon", lambda v: validation.phone(v, field=prefix + "telefon"))
    key_text = reader.values.get(prefix + "klucz", "").strip().lower()
    if key_text not in YES | NO:
        reader.problem(prefix + "klucz", f"wpisz tak lub nie (jest {key_text!r})")
    language = reader.checked(prefix + "jezyk", lambda v: validation.language(v, field=prefix + "jezyk"))
    return ContactRow(
        number=number,
        name=name,
        phone=checked_phone or "",
        relation=reader.text(prefix + "relacja", max_length=50),
        has_key=key_text in YES,
        language=language or "pl",
    )


def parse(data: bytes, *, today: date) -> tuple[ImportReport, list[ResidentRow]]:
    """Decode, split and check every row on its own (no database)."""
    if len(data) > MAX_BYTES:
        report = ImportReport(encoding="-", separator="-")
        report.problems.append(Problem(0, "", f"plik większy niż {MAX_BYTES // (1024 * 1024)} MB"))
        return report, []
    text, encoding = decode(data)
    separator = sniff_separator(text)
    report = ImportReport(encoding=encoding, separator=separator)
    lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))
    if not lines or not any(cell.strip() for cell in lines[0]):
        report.problems.append(Problem(1, "", "plik jest pusty: brak wiersza nagłówka"))
        return report, []
    header = [cell.strip().lower() for cell in lines[0]]
    report.problems.extend(_header_problems(header))
    if any(problem.message == "brak wymaganej kolumny" for problem in report.problems):
        return report, []
    rows: list[ResidentRow] = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # an empty line, as spreadsheets leave at the end
        report.rows += 1
        if len(cells) > len(header):
            report.problems.append(
                Problem(number, "", f"{len(cells)} pól, a nagłówek ma {len(header)} kolumn (separator w tekście?)")
            )
            continue
        values = dict(zip(header, cells, strict=False))
        rows.append(_read_row(_RowReader(number, values, report.problems), today=today))
    if report.rows == 0:
        report.problems.append(Problem(2, "", "brak wierszy z danymi"))
    _within_file_duplicates(rows, report.problems)
    return report, rows


def _within_file_duplicates(rows: list[ResidentRow], problems: list[Problem]) -> None:
    first_row: dict[tuple[str, str], int] = {}
    for row in rows:
        for column, value in (("opaska_numer", row.band_serial), ("opaska_imei", row.band_imei)):
            if value is None:
                continue
            # An IMEI alone becomes the band's serial: the two share one namespace.
            key = ("band", value)
            if key in first_row:
                problems.append(
                    Problem(row.row, column, f"opaska {value} powtórzona w pliku (wiersz {first_row[key]})")
                )
            else:
                first_row[key] = row.row
        person = (
            "resident",
            f"{row.municipality.lower()}|{row.first_name.lower()}|{row.last_name.lower()}|{row.birth_date}",
        )
        if person in first_row:
            problems.append(Problem(row.row, "nazwisko", f"ten sam mieszkaniec co w wierszu {first_row[person]}"))
        else:
            first_row[person] = row.row
