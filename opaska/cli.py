"""The `opaska` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from opaska.logs import configure_logging
from opaska.settings import Settings, SettingsError, load_settings
from opaska.startup import StartupError

log = logging.getLogger("opaska")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opaska",
        description="opaska: telecare alarm receiving platform. Settings: config/opaska.toml, "
        "overridden by OPASKA_<SECTION>_<KEY> environment variables (e.g. OPASKA_MQTT_URL).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="everything in one process: broker, gateway, engine, console",
        description="Start the whole platform in one process: the embedded MQTT broker (unless OPASKA_MQTT_URL "
        "names one), the gateway, the engine and the console. Migrates the database first.",
    )
    run.add_argument(
        "--demo", action="store_true", help="seed a demo municipality with residents and run simulated bands"
    )

    commands.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply every pending Alembic migration to the configured database (OPASKA_DATABASE_URL).",
    )
    commands.add_parser(
        "gateway",
        help="run only the gateway (bands in, over an external broker)",
        description="Run the gateway alone: subscribes to band uplinks on OPASKA_MQTT_URL, validates, commits, acks.",
    )
    commands.add_parser(
        "engine",
        help="run only the engine (escalation and notifications)",
        description="Run the engine alone: escalation timers and the notification outbox.",
    )
    commands.add_parser(
        "console",
        help="run only the console (web UI and API)",
        description="Run the console alone: web pages, JSON API, live WebSocket, /healthz, /readyz, /metrics.",
    )

    simulate = commands.add_parser(
        "simulate",
        help="virtual bands over real MQTT",
        description="Connect virtual bands to the broker and send heartbeats and alarms, exactly as the band "
        "protocol says: an alarm is repeated until the platform's alarm_received arrives.",
    )
    simulate.add_argument(
        "--band",
        action="append",
        required=True,
        metavar="SERIAL[:SECRET]",
        help="a registered band (repeatable); the demo bands' secrets are read from var/demo-bands.txt",
    )
    simulate.add_argument(
        "--press",
        choices=("sos", "fall", "fall_cancel"),
        help="send this from every band (repeated until alarm_received), then stop",
    )
    simulate.add_argument(
        "--heartbeats", type=int, default=1, metavar="N", help="heartbeats per band before pressing (default 1)"
    )
    simulate.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="seconds between heartbeats (default 1)"
    )
    simulate.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="give up waiting for alarm_received after S seconds"
    )

    band = commands.add_parser(
        "band",
        help="a technician's commands for one band",
        description="Send a band its configuration or a locate request, or read its rejected messages.",
    )
    band_commands = band.add_subparsers(dest="band_command", required=True, metavar="BAND_COMMAND")
    band_config = band_commands.add_parser(
        "config",
        help="set the band's heartbeat interval and send it its config (retained)",
        description="Store the band's own heartbeat interval (none: the default from [bands]) and queue its "
        "retained `config` downlink (heartbeat interval, fall cancel window).",
    )
    band_config.add_argument("serial")
    band_config.add_argument("--heartbeat-interval", type=int, metavar="S", help="seconds (10-86400); omit: default")
    band_locate = band_commands.add_parser("locate", help="ask the band where it is")
    band_locate.add_argument("serial")
    band_rejects = band_commands.add_parser(
        "rejects", help="rejected messages, newest first (from the dead-letter table)"
    )
    band_rejects.add_argument("serial", nargs="?", help="one band (default: all)")
    band_rejects.add_argument("--limit", type=int, default=50, metavar="N")

    duty = commands.add_parser(
        "duty",
        help="the duty roster: who is supervisor or on-call responder, and when",
        description="Add shifts to the duty roster and see who is on duty. Times without an offset are "
        "Europe/Warsaw time (2026-11-23T20:00); with one they are taken as given (2026-11-23T19:00+00:00).",
    )
    duty_commands = duty.add_subparsers(dest="duty_command", required=True, metavar="DUTY_COMMAND")
    duty_add = duty_commands.add_parser("add", help="add one shift")
    duty_add.add_argument("--role", required=True, help="supervisor or responder (on call, reached by phone)")
    duty_add.add_argument("--name", required=True, help="the person on duty")
    duty_add.add_argument("--phone", required=True, help="their phone (Polish numbers without +48 are fine)")
    duty_add.add_argument("--from", dest="starts", required=True, metavar="TIME", help="when the shift starts")
    duty_add.add_argument("--to", dest="ends", required=True, metavar="TIME", help="when it ends")
    duty_add.add_argument("--municipality", metavar="CODE", help="only for this municipality (default: all)")
    duty_add.add_argument("--staff-id", type=int, metavar="ID", help="the person's staff user, if they have one")
    duty_list = duty_commands.add_parser("list", help="who is on duty at a time, or every shift not yet over")
    duty_list.add_argument("--at", metavar="TIME", help="who is on duty at this time (default: all shifts ahead)")

    broker = commands.add_parser(
        "broker",
        help="files for an external MQTT broker",
        description="Write what an external broker needs from the registry (see docs/brokers.md).",
    )
    broker_commands = broker.add_subparsers(dest="broker_command", required=True, metavar="BROKER_COMMAND")
    mosquitto_files = broker_commands.add_parser(
        "mosquitto-files",
        help="write Mosquitto's password and ACL files once",
        description="Render Mosquitto's password file (the service account of OPASKA_MQTT_URL and every band that "
        "may connect) and ACL file into DIR, rewriting a file only if it changed. The gateway keeps them in step "
        "by itself when OPASKA_MQTT_MOSQUITTO_AUTH_DIR is set; this writes them once, e.g. before Mosquitto starts.",
    )
    mosquitto_files.add_argument("--dir", required=True, metavar="DIR", help="where to write `passwords` and `acl`")
    mosquitto_files.add_argument(
        "--reload-pid-file", metavar="FILE", help="after a change, send SIGHUP to the process whose pid is in FILE"
    )
    return parser


async def _mosquitto_files(settings: Settings, directory: str, pid_file: str | None) -> int:
    from pathlib import Path

    from gateway.broker.mosquitto_auth import MosquittoAuthFiles
    from opaska.db.engine import make_session_factory
    from opaska.startup import open_database

    try:
        files = MosquittoAuthFiles.from_settings(
            settings, directory=Path(directory), pid_file=Path(pid_file) if pid_file else None
        )
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    engine = await open_database(settings, migrate=False)
    try:
        result = await files.sync(make_session_factory(engine))
    except OSError as exc:
        raise StartupError(f"cannot write Mosquitto's files in {directory}: {exc}") from None
    finally:
        await engine.dispose()
    state = "written" if result.changed else "unchanged"
    reload = ", Mosquitto signalled" if result.reloaded else ""
    print(f"{files.password_path} and {files.acl_path} {state} ({result.bands} bands){reload}")
    return 0


def _run(coroutine: Coroutine[Any, Any, int | None]) -> int:
    try:
        return asyncio.run(coroutine) or 0
    except StartupError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _migrate(settings: Settings) -> int:
    from opaska.startup import open_database, redacted

    engine = await open_database(settings, migrate=True)
    await engine.dispose()
    print(f"database {redacted(settings.database.url)} is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level)

    from opaska import platform

    match args.command:
        case "run":
            return _run(platform.run_all(settings, demo=args.demo))
        case "migrate":
            return _run(_migrate(settings))
        case "gateway":
            return _run(platform.run_gateway(settings))
        case "engine":
            return _run(platform.run_engine_process(settings))
        case "console":
            return _run(platform.run_console(settings))
        case "band":
            from opaska import band_commands

            if args.band_command == "config":
                return _run(
                    band_commands.configure(settings, args.serial, heartbeat_interval_s=args.heartbeat_interval)
                )
            if args.band_command == "locate":
                return _run(band_commands.locate(settings, args.serial))
            return _run(band_commands.rejects(settings, args.serial, limit=args.limit))
        case "duty":
            from opaska import duty_commands

            if args.duty_command == "add":
                return _run(
                    duty_commands.add(
                        settings,
                        role=args.role,
                        name=args.name,
                        phone=args.phone,
                        starts=args.starts,
                        ends=args.ends,
                        municipality=args.municipality,
                        staff_id=args.staff_id,
                    )
                )
            return _run(duty_commands.list_shifts(settings, at=args.at))
        case "broker":
            return _run(_mosquitto_files(settings, args.dir, args.reload_pid_file))
        case "simulate":
            from simulator.cli import simulate

            return _run(
                simulate(
                    settings,
                    bands=args.band,
                    press=args.press,
                    heartbeats=args.heartbeats,
                    interval_s=args.interval,
                    timeout_s=args.timeout,
                )
            )
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
