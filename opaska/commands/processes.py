"""`opaska run|migrate|gateway|engine|console`: the platform's processes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opaska.commands.table import Command, arg

if TYPE_CHECKING:
    from core.settings import Settings

# Not handed to the command's function: `opaska.cli` turns it into the setting it stands for.
ALLOW_INSECURE_BROKER = arg("--allow-insecure-broker", action="store_true", help="arg.allow_insecure_broker")

COMMANDS = (
    Command(
        "run",
        help="cmd.run",
        description="cmd.run.about",
        run="opaska.platform:run_all",
        service=True,
        args=(
            arg("--demo", action="store_true", help="arg.run.demo"),
            ALLOW_INSECURE_BROKER,
        ),
    ),
    Command(
        "migrate",
        help="cmd.migrate",
        description="cmd.migrate.about",
        run="opaska.commands.processes:migrate",
    ),
    Command(
        "gateway",
        help="cmd.gateway",
        description="cmd.gateway.about",
        run="opaska.platform:run_gateway",
        service=True,
        args=(ALLOW_INSECURE_BROKER,),
    ),
    Command(
        "engine",
        help="cmd.engine",
        description="cmd.engine.about",
        run="opaska.platform:run_engine_process",
        service=True,
    ),
    Command(
        "console",
        help="cmd.console",
        description="cmd.console.about",
        run="opaska.platform:run_console",
        service=True,
    ),
)


async def migrate(settings: Settings) -> int:
    from core.startup import redacted
    from opaska.messages import say
    from opaska.startup import open_database

    engine = await open_database(settings, migrate=True)
    await engine.dispose()
    print(say("migrate.done", url=redacted(settings.database.url)))
    return 0
