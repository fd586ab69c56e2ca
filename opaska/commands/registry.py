"""`opaska resident|municipality|contact …` (opaska/resident_commands.py) and `opaska import`
(opaska/import_commands.py): the registry of residents from the command line."""

from __future__ import annotations

from opaska.commands.table import JSON, Command, Group, arg

_RESIDENTS = "opaska.resident_commands"

LANGUAGE = arg("--language", default="pl", choices=("pl", "en"), help="arg.language")
RESIDENT_ID = arg("resident_id", type=int)

RESIDENT = Group(
    "resident",
    help="cmd.resident",
    commands=(
        Command(
            "add",
            help="cmd.resident.add",
            run=f"{_RESIDENTS}:add",
            args=(
                arg("--municipality", required=True, metavar="CODE"),
                arg("--first-name", required=True),
                arg("--last-name", required=True),
                arg("--address", default=""),
                arg("--birth-date", metavar="YYYY-MM-DD"),
                arg("--phone", help="arg.resident.add.phone"),
                LANGUAGE,
                arg("--access-notes", default="", help="arg.resident.add.access_notes"),
                arg("--medical-notes", default="", help="arg.resident.add.medical_notes"),
            ),
        ),
        Command(
            "list",
            help="cmd.resident.list",
            run=f"{_RESIDENTS}:list_residents",
            args=(
                JSON,
                arg("--municipality", metavar="CODE"),
                arg(
                    "--all",
                    dest="include_inactive",
                    action="store_true",
                    help="arg.resident.list.include_inactive",
                ),
            ),
        ),
        Command("show", help="cmd.resident.show", run=f"{_RESIDENTS}:show", args=(RESIDENT_ID,)),
        Command(
            "export",
            help="cmd.resident.export",
            run=f"{_RESIDENTS}:export",
            args=(RESIDENT_ID, arg("--output", metavar="FILE", help="arg.resident.export.output")),
        ),
        Command(
            "erase",
            help="cmd.resident.erase",
            description="cmd.resident.erase.about",
            run=f"{_RESIDENTS}:erase",
            args=(
                RESIDENT_ID,
                arg("--yes", dest="confirmed", action="store_true", help="arg.resident.erase.confirmed"),
            ),
        ),
    ),
)

MUNICIPALITY = Group(
    "municipality",
    help="cmd.municipality",
    commands=(
        Command(
            "add",
            help="cmd.municipality.add",
            run=f"{_RESIDENTS}:add_municipality",
            args=(
                arg("code", help="arg.municipality.add.code"),
                arg("--name", required=True, help="arg.municipality.add.name"),
            ),
        ),
        Command("list", help="cmd.municipality.list", run=f"{_RESIDENTS}:list_municipalities", args=(JSON,)),
    ),
)

CONTACT = Group(
    "contact",
    help="cmd.contact",
    commands=(
        Command(
            "add",
            help="cmd.contact.add",
            run=f"{_RESIDENTS}:add_contact",
            args=(
                RESIDENT_ID,
                arg("--name", required=True),
                arg("--phone", required=True, help="arg.contact.add.phone"),
                arg("--relation", default="", help="arg.contact.add.relation"),
                arg("--priority", type=int, metavar="N", help="arg.contact.add.priority"),
                LANGUAGE,
                arg("--has-key", action="store_true", help="arg.contact.add.has_key"),
            ),
        ),
        Command(
            "list",
            help="cmd.contact.list",
            run=f"{_RESIDENTS}:list_contacts",
            args=(RESIDENT_ID,),
        ),
        Command(
            "remove",
            help="cmd.contact.remove",
            run=f"{_RESIDENTS}:remove_contact",
            args=(arg("contact_id", type=int),),
        ),
    ),
)

IMPORT = Command(
    "import",
    help="cmd.import",
    description="cmd.import.about",
    run="opaska.import_commands:run_import",
    args=(
        arg("path", metavar="file"),
        arg("--dry-run", action="store_true", help="arg.import.dry_run"),
        arg("--by", metavar="USERNAME", help="arg.import.by"),
    ),
)
