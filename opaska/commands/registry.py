"""`opaska resident|municipality|contact …` (opaska/resident_commands.py) and `opaska import`
(opaska/import_commands.py): the registry of residents from the command line."""

from __future__ import annotations

from opaska.commands.table import JSON, Command, Group, arg

_RESIDENTS = "opaska.resident_commands"

LANGUAGE = arg("--language", default="pl", choices=("pl", "en"))
RESIDENT_ID = arg("resident_id", type=int)

RESIDENT = Group(
    "resident",
    help="residents: add, list, show, export, erase",
    commands=(
        Command(
            "add",
            help="add a resident to a municipality's programme",
            run=f"{_RESIDENTS}:add",
            args=(
                arg("--municipality", required=True, metavar="CODE"),
                arg("--first-name", required=True),
                arg("--last-name", required=True),
                arg("--address", default=""),
                arg("--birth-date", metavar="YYYY-MM-DD"),
                arg("--phone", help="the resident's own phone (Polish numbers without +48 are fine)"),
                LANGUAGE,
                arg("--access-notes", default="", help="how to get in (kept in the registry)"),
                arg("--medical-notes", default="", help="for the operator (read only in the console, audited)"),
            ),
        ),
        Command(
            "list",
            help="residents, by name",
            run=f"{_RESIDENTS}:list_residents",
            args=(
                JSON,
                arg("--municipality", metavar="CODE"),
                arg(
                    "--all",
                    dest="include_inactive",
                    action="store_true",
                    help="include residents who left the programme",
                ),
            ),
        ),
        Command(
            "show", help="one resident: contacts, bands, band history", run=f"{_RESIDENTS}:show", args=(RESIDENT_ID,)
        ),
        Command(
            "export",
            help="everything held about a resident, as JSON (RODO: the right of access)",
            run=f"{_RESIDENTS}:export",
            args=(RESIDENT_ID, arg("--output", metavar="FILE", help="write to FILE (mode 0600) instead of stdout")),
        ),
        Command(
            "erase",
            help="erase a resident who left: personal data removed, alarms kept as anonymous statistics",
            description="Anonymise a resident (RODO: the right to erasure): names, address, phone, birth date, "
            "notes, key-safe code and contacts are removed, as are the phone numbers and texts of notifications "
            "about them; their alarms stay as anonymous statistics (kind, times, outcome, municipality). Cannot be "
            "undone.",
            run=f"{_RESIDENTS}:erase",
            args=(
                RESIDENT_ID,
                arg("--yes", dest="confirmed", action="store_true", help="confirm: this cannot be undone"),
            ),
        ),
    ),
)

MUNICIPALITY = Group(
    "municipality",
    help="municipalities (gminy) the centre serves",
    commands=(
        Command(
            "add",
            help="add a municipality",
            run=f"{_RESIDENTS}:add_municipality",
            args=(
                arg("code", help="its code: the TERYT code where known, or a short unique code"),
                arg("--name", required=True, help="e.g. Gmina Oleśnica"),
            ),
        ),
        Command("list", help="every municipality, by code", run=f"{_RESIDENTS}:list_municipalities", args=(JSON,)),
    ),
)

CONTACT = Group(
    "contact",
    help="a resident's contacts, called in priority order",
    commands=(
        Command(
            "add",
            help="add a contact (last in the order unless --priority)",
            run=f"{_RESIDENTS}:add_contact",
            args=(
                RESIDENT_ID,
                arg("--name", required=True),
                arg("--phone", required=True, help="Polish numbers without +48 are fine"),
                arg("--relation", default="", help="e.g. córka, sąsiad"),
                arg("--priority", type=int, metavar="N", help="1 is called first"),
                LANGUAGE,
                arg("--has-key", action="store_true", help="holds a key to the resident's home"),
            ),
        ),
        Command(
            "list",
            help="a resident's contacts in calling order",
            run=f"{_RESIDENTS}:list_contacts",
            args=(RESIDENT_ID,),
        ),
        Command(
            "remove",
            help="remove a contact (the later ones move up)",
            run=f"{_RESIDENTS}:remove_contact",
            args=(arg("contact_id", type=int),),
        ),
    ),
)

IMPORT = Command(
    "import",
    help="import residents, contacts and bands from a CSV file (check first with --dry-run)",
    description="Import a MOPS spreadsheet saved as CSV: one row per resident with contacts and band "
    "(columns: docs/registry-import.md). UTF-8 (with or without BOM) or Windows-1250, ';' or ',' separated. "
    "Every problem is reported by row and column; with any problem nothing is written.",
    run="opaska.import_commands:run_import",
    args=(
        arg("path", metavar="file"),
        arg("--dry-run", action="store_true", help="only check the file and report its problems"),
        arg("--by", metavar="USERNAME", help="who imports (kept in the bands' history)"),
    ),
)
