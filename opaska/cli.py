"""The `opaska` command: the parser built from the table of commands (opaska/commands/), in the
language the command line speaks (opaska/messages/), and the settings every command runs with.
Exit statuses: opaska/exits.py, docs/cli.md."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any

from opaska import exits
from opaska.commands import band, broker, processes, registry, report, simulate, staff
from opaska.commands.table import Command, Group, build_parser, invocation, is_service
from opaska.messages import LANGUAGES, from_locale, option_in, say, use
from opaska.messages.argparse_words import speaking

COMMANDS: tuple[Command | Group, ...] = (
    *processes.COMMANDS,
    simulate.COMMAND,
    band.GROUP,
    registry.RESIDENT,
    registry.MUNICIPALITY,
    registry.CONTACT,
    registry.IMPORT,
    staff.DUTY,
    report.COMMAND,
    report.EXPORT,
    staff.USER,
    broker.GROUP,
)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    # Chosen before the parser is built: its help texts are in the language.
    use(option_in(arguments) or from_locale(os.environ))
    with speaking():
        parser = build_parser(COMMANDS, prog="opaska", description=say("cli.about"))
        # Its own dest: `report` and `report-export` have a --lang of their own (the report's language).
        parser.add_argument("--lang", dest="cli_language", choices=LANGUAGES, help=say("arg.lang"))
        parser.add_argument("-v", "--verbose", action="store_true", help=say("arg.verbose"))
        args = parser.parse_args(arguments)
    del args.cli_language  # already in use: read from `arguments` before the parser existed
    verbose = vars(args).pop("verbose")
    # Imported only now: `opaska --help` and a mistyped command answer without loading pydantic.
    from core.logs import configure_logging
    from core.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return exits.BAD_INPUT
    # A tool (not run/gateway/engine/console) prints its answer: library INFO lines (Alembic's,
    # fontTools') would only bury it.
    configure_logging(settings.log.level if is_service(args) or verbose else "WARNING")
    # `run` and `gateway` take --allow-insecure-broker: a setting given on the command line.
    if vars(args).pop("allow_insecure_broker", False):
        settings = settings.model_copy(
            update={"mqtt": settings.mqtt.model_copy(update={"allow_insecure_broker": True})}
        )
    return _run(invocation(settings, args))


def _run(coroutine: Coroutine[Any, Any, int | None]) -> int:
    from core.startup import StartupError

    try:
        return asyncio.run(coroutine) or exits.OK
    except exits.BadInput as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return exits.BAD_INPUT
    except StartupError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return exits.FAILED
    except KeyboardInterrupt:
        return exits.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
