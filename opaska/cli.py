"""The `opaska` command: the parser built from the table of commands (opaska/commands/), and the
settings every command runs with."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from opaska.commands import band, broker, processes, registry, report, simulate, staff
from opaska.commands.table import Command, Group, build_parser, invocation, is_service

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

DESCRIPTION = (
    "opaska: telecare alarm receiving platform. Settings: config/opaska.toml, "
    "overridden by OPASKA_<SECTION>_<KEY> environment variables (e.g. OPASKA_MQTT_URL)."
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(COMMANDS, prog="opaska", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="a tool's own and its libraries' log lines too")
    args = parser.parse_args(argv)
    verbose = vars(args).pop("verbose")
    # Imported only now: `opaska --help` and a mistyped command answer without loading pydantic.
    from core.logs import configure_logging
    from core.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 2
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
        return asyncio.run(coroutine) or 0
    except StartupError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
