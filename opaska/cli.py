"""The `opaska` command: the parser built from the table of commands (opaska/commands/), and the
settings every command runs with."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from core.logs import configure_logging
from core.settings import SettingsError, load_settings
from core.startup import StartupError
from opaska.commands import band, broker, processes, registry, report, simulate, staff
from opaska.commands.table import Command, Group, build_parser, invocation

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
    staff.USER,
    broker.GROUP,
)

DESCRIPTION = (
    "opaska: telecare alarm receiving platform. Settings: config/opaska.toml, "
    "overridden by OPASKA_<SECTION>_<KEY> environment variables (e.g. OPASKA_MQTT_URL)."
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser(COMMANDS, prog="opaska", description=DESCRIPTION).parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level)
    # `run` and `gateway` take --allow-insecure-broker: a setting given on the command line.
    if vars(args).pop("allow_insecure_broker", False):
        settings = settings.model_copy(
            update={"mqtt": settings.mqtt.model_copy(update={"allow_insecure_broker": True})}
        )
    return _run(invocation(settings, args))


def _run(coroutine: Coroutine[Any, Any, int | None]) -> int:
    try:
        return asyncio.run(coroutine) or 0
    except StartupError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
