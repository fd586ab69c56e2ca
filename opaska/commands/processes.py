"""`opaska run|migrate|gateway|engine|console`: the platform's processes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opaska.commands.table import Command, arg

if TYPE_CHECKING:
    from core.settings import Settings

INSECURE_BROKER_HELP = (
    "start even if the external MQTT broker lets clients in without a password (a lab only; "
    "same as OPASKA_MQTT_ALLOW_INSECURE_BROKER=true)"
)
# Not handed to the command's function: `opaska.cli` turns it into the setting it stands for.
ALLOW_INSECURE_BROKER = arg("--allow-insecure-broker", action="store_true", help=INSECURE_BROKER_HELP)

COMMANDS = (
    Command(
        "run",
        help="everything in one process: broker, gateway, engine, console",
        description="Start the whole platform in one process: the embedded MQTT broker (unless OPASKA_MQTT_URL "
        "names one), the gateway, the engine and the console. Migrates the database first.",
        run="opaska.platform:run_all",
        service=True,
        args=(
            arg("--demo", action="store_true", help="seed a demo municipality with residents and run simulated bands"),
            ALLOW_INSECURE_BROKER,
        ),
    ),
    Command(
        "migrate",
        help="bring the database schema up to date",
        description="Apply every pending Alembic migration to the configured database (OPASKA_DATABASE_URL).",
        run="opaska.commands.processes:migrate",
    ),
    Command(
        "gateway",
        help="run only the gateway (bands in, over an external broker)",
        description="Run the gateway alone: subscribes to band uplinks on OPASKA_MQTT_URL, validates, commits, acks.",
        run="opaska.platform:run_gateway",
        service=True,
        args=(ALLOW_INSECURE_BROKER,),
    ),
    Command(
        "engine",
        help="run only the engine (escalation and notifications)",
        description="Run the engine alone: escalation timers and the notification outbox.",
        run="opaska.platform:run_engine_process",
        service=True,
    ),
    Command(
        "console",
        help="run only the console (web UI and API)",
        description="Run the console alone: web pages, JSON API, live WebSocket, /healthz, /readyz, /metrics.",
        run="opaska.platform:run_console",
        service=True,
    ),
)


async def migrate(settings: Settings) -> int:
    from core.startup import redacted
    from opaska.startup import open_database

    engine = await open_database(settings, migrate=True)
    await engine.dispose()
    print(f"database {redacted(settings.database.url)} is up to date")
    return 0
