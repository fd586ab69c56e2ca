"""The `opaska` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from core.logs import configure_logging
from core.settings import Settings, SettingsError, load_settings
from core.startup import StartupError

log = logging.getLogger("opaska")


INSECURE_BROKER_HELP = (
    "start even if the external MQTT broker lets clients in without a password (a lab only; "
    "same as OPASKA_MQTT_ALLOW_INSECURE_BROKER=true)"
)


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
    run.add_argument("--allow-insecure-broker", action="store_true", help=INSECURE_BROKER_HELP)

    commands.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply every pending Alembic migration to the configured database (OPASKA_DATABASE_URL).",
    )
    gateway = commands.add_parser(
        "gateway",
        help="run only the gateway (bands in, over an external broker)",
        description="Run the gateway alone: subscribes to band uplinks on OPASKA_MQTT_URL, validates, commits, acks.",
    )
    gateway.add_argument("--allow-insecure-broker", action="store_true", help=INSECURE_BROKER_HELP)
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
        metavar="SERIAL[:SECRET]",
        help="a registered band (repeatable); the demo bands' secrets are read from var/demo-bands.txt",
    )
    from simulator.scenarios import SCENARIOS

    simulate.add_argument("--scenario", choices=sorted(SCENARIOS), help="run a fleet of --bands bands through this")
    simulate.add_argument("--bands", type=int, default=100, metavar="N", help="fleet size (default 100)")
    simulate.add_argument("--seed", type=int, default=1, metavar="S", help="seed of the scenario's choices")
    simulate.add_argument("--duration", type=float, metavar="S", help="scenario length in seconds (default 60)")
    simulate.add_argument("--broker", metavar="URL", help="the bands' broker listener, e.g. mqtt://127.0.0.1:1883")
    simulate.add_argument("--prefix", default="SIM", help="serial prefix of the simulated fleet (default SIM)")
    simulate.add_argument("--secrets", metavar="FILE", help="fleet secrets (default var/simulated-bands-PREFIX.tsv)")
    simulate.add_argument(
        "--heartbeat-interval", type=float, default=300.0, metavar="S", help="until a config downlink says otherwise"
    )
    simulate.add_argument("--mosquitto-files", metavar="DIR", help="also render Mosquitto's password and ACL files")
    simulate.add_argument("--json", metavar="FILE", help="write the scenario's report as JSON")
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
    _add_band_registry_commands(band_commands)
    _add_resident_commands(commands)
    csv_import = commands.add_parser(
        "import",
        help="import residents, contacts and bands from a CSV file (check first with --dry-run)",
        description="Import a MOPS spreadsheet saved as CSV: one row per resident with contacts and band "
        "(columns: docs/registry-import.md). UTF-8 (with or without BOM) or Windows-1250, ';' or ',' separated. "
        "Every problem is reported by row and column; with any problem nothing is written.",
    )
    csv_import.add_argument("file")
    csv_import.add_argument("--dry-run", action="store_true", help="only check the file and report its problems")
    csv_import.add_argument("--by", metavar="USERNAME", help="who imports (kept in the bands' history)")

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

    from opaska import report_commands

    report_commands.add_parser(commands)

    user = commands.add_parser(
        "user",
        help="console accounts: create one (the first administrator), list them, change a password",
        description="Staff accounts of the console. Roles: operator, supervisor, technician, administrator "
        "(administrators see every municipality; the others only those given with --municipality).",
    )
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="USER_COMMAND")
    user_create = user_commands.add_parser(
        "create", help="create an account (the password is asked for twice, or read from stdin)"
    )
    user_create.add_argument("username", help="2-64 characters: a-z, digits, '.', '_', '-'")
    user_create.add_argument("--role", required=True, choices=("operator", "supervisor", "technician", "administrator"))
    user_create.add_argument("--name", required=True, help="the person's full name, as colleagues see it")
    user_create.add_argument(
        "--municipality",
        action="append",
        default=[],
        metavar="CODE",
        help="a municipality the account may see (repeatable; required except for administrators)",
    )
    user_create.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    user_commands.add_parser("list", help="every account, its role and municipalities")
    user_passwd = user_commands.add_parser("passwd", help="set a new password (ends the account's sessions)")
    user_passwd.add_argument("username")
    user_passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")

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


def _add_band_registry_commands(band_commands: Any) -> None:
    """Registration, binding, credentials and the installation test (opaska/band_registry_commands.py)."""
    by_help = "the technician's console username, kept in the band's history"
    register = band_commands.add_parser(
        "register",
        help="register a band by serial or IMEI and print its MQTT credentials (once)",
        description="Register a band. Its serial is its MQTT username; with --imei alone the IMEI (15 digits, "
        "Luhn-checked) is the serial. The MQTT password is printed once and stored only hashed.",
    )
    register.add_argument("--serial", help="the band's serial number (1-64 characters, no + # / :)")
    register.add_argument("--imei", help="the band's IMEI (15 digits with a valid check digit)")
    register.add_argument("--model", default="")
    register.add_argument("--firmware", default="")
    register.add_argument("--sim-phone", help="the phone number of the band's SIM card")
    register.add_argument("--resident", type=int, metavar="ID", help="bind it to this resident at once")
    register.add_argument(
        "--adapter",
        choices=["mqtt", "traccar", "watch"],
        default="mqtt",
        help="how the band reaches opaska: its own MQTT protocol (default), through Traccar, or the watch "
        "protocol over TCP (docs/devices/); traccar and watch bands get no MQTT password",
    )
    register.add_argument(
        "--device-id",
        help="the band's identity at its adapter: Traccar's 'Identifier' (uniqueId), or the ID a watch sends "
        "(its IMEI, or a shorter registration code); defaults to --imei",
    )
    register.add_argument("--by", metavar="USERNAME", help=by_help)
    bind = band_commands.add_parser("bind", help="give a band (in stock) to a resident")
    bind.add_argument("serial", help="serial or IMEI")
    bind.add_argument("--resident", type=int, required=True, metavar="ID")
    bind.add_argument("--by", metavar="USERNAME", help=by_help)
    swap = band_commands.add_parser(
        "swap", help="replace a resident's band: the old one is retired, the new one bound; history kept"
    )
    swap.add_argument("old", help="serial or IMEI of the band taken away")
    swap.add_argument("new", help="serial or IMEI of the band given (from stock)")
    swap.add_argument("--note", default="", help="why, e.g. 'pęknięty pasek'")
    swap.add_argument("--by", metavar="USERNAME", help=by_help)
    decommission = band_commands.add_parser(
        "decommission", help="retire a band for good: unbound, credentials revoked, history kept"
    )
    decommission.add_argument("serial", help="serial or IMEI")
    decommission.add_argument("--note", default="")
    decommission.add_argument("--by", metavar="USERNAME", help=by_help)
    reissue = band_commands.add_parser("reissue", help="new MQTT credentials (printed once); the old stop working")
    reissue.add_argument("serial", help="serial or IMEI")
    reissue.add_argument("--by", metavar="USERNAME", help=by_help)
    revoke = band_commands.add_parser("revoke", help="revoke the band's MQTT credentials: every broker refuses it")
    revoke.add_argument("serial", help="serial or IMEI")
    revoke.add_argument("--by", metavar="USERNAME", help=by_help)
    test_start = band_commands.add_parser(
        "test-start",
        help="installation test: the band's SOS and falls are test alarms for a while",
        description="Put the band in test mode: its SOS and falls are stored as test alarms, reach the console "
        "marked TEST and are never escalated to relatives; each gets a test result (latency, pass/fail). "
        "Test mode ends by itself after [bands] test_mode_minutes.",
    )
    test_start.add_argument("serial", help="serial or IMEI")
    test_start.add_argument("--minutes", type=int, metavar="N", help="how long (default: [bands] test_mode_minutes)")
    test_start.add_argument("--by", metavar="USERNAME", help=by_help)
    test_stop = band_commands.add_parser("test-stop", help="end test mode now")
    test_stop.add_argument("serial", help="serial or IMEI")
    test_stop.add_argument("--by", metavar="USERNAME", help=by_help)
    tests = band_commands.add_parser("tests", help="the band's installation test results, newest first")
    tests.add_argument("serial", help="serial or IMEI")
    tests.add_argument("--limit", type=int, default=20, metavar="N")
    health = band_commands.add_parser(
        "health",
        help="bands offline, not worn, low on battery, never connected or with many rejected messages",
        description="Device health: bands that need a technician, with last seen and battery. --csv writes the "
        "list for Excel (UTF-8 with BOM, ';' separated; see docs/registry-import.md).",
    )
    health.add_argument("--municipality", metavar="CODE", help="only bands bound in this municipality")
    health.add_argument("--csv", metavar="FILE", help="write the list to FILE as CSV instead of printing it")
    health.add_argument(
        "--all", action="store_true", help="every band in service or stock, not only those with problems"
    )


def _add_resident_commands(commands: Any) -> None:
    """`opaska resident …` and `opaska contact …` (opaska/resident_commands.py)."""
    resident = commands.add_parser("resident", help="residents: add, list, show, export, erase")
    resident_commands = resident.add_subparsers(dest="resident_command", required=True, metavar="RESIDENT_COMMAND")
    add = resident_commands.add_parser("add", help="add a resident to a municipality's programme")
    add.add_argument("--municipality", required=True, metavar="CODE")
    add.add_argument("--first-name", required=True)
    add.add_argument("--last-name", required=True)
    add.add_argument("--address", default="")
    add.add_argument("--birth-date", metavar="YYYY-MM-DD")
    add.add_argument("--phone", help="the resident's own phone (Polish numbers without +48 are fine)")
    add.add_argument("--language", default="pl", choices=("pl", "en"))
    add.add_argument("--access-notes", default="", help="how to get in (kept in the registry)")
    add.add_argument("--medical-notes", default="", help="for the operator (read only in the console, audited)")
    listing = resident_commands.add_parser("list", help="residents, by name")
    listing.add_argument("--municipality", metavar="CODE")
    listing.add_argument("--all", action="store_true", help="include residents who left the programme")
    show = resident_commands.add_parser("show", help="one resident: contacts, bands, band history")
    show.add_argument("resident_id", type=int)
    export = resident_commands.add_parser(
        "export", help="everything held about a resident, as JSON (RODO: the right of access)"
    )
    export.add_argument("resident_id", type=int)
    export.add_argument("--output", metavar="FILE", help="write to FILE (mode 0600) instead of stdout")
    erase = resident_commands.add_parser(
        "erase",
        help="erase a resident who left: personal data removed, alarms kept as anonymous statistics",
        description="Anonymise a resident (RODO: the right to erasure): names, address, phone, birth date, notes, "
        "key-safe code and contacts are removed, as are the phone numbers and texts of notifications about them; "
        "their alarms stay as anonymous statistics (kind, times, outcome, municipality). Cannot be undone.",
    )
    erase.add_argument("resident_id", type=int)
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    municipality = commands.add_parser("municipality", help="municipalities (gminy) the centre serves")
    municipality_commands = municipality.add_subparsers(
        dest="municipality_command", required=True, metavar="MUNICIPALITY_COMMAND"
    )
    municipality_add = municipality_commands.add_parser("add", help="add a municipality")
    municipality_add.add_argument("code", help="its code: the TERYT code where known, or a short unique code")
    municipality_add.add_argument("--name", required=True, help="e.g. Gmina Oleśnica")
    municipality_commands.add_parser("list", help="every municipality, by code")

    contact = commands.add_parser("contact", help="a resident's contacts, called in priority order")
    contact_commands = contact.add_subparsers(dest="contact_command", required=True, metavar="CONTACT_COMMAND")
    contact_add = contact_commands.add_parser("add", help="add a contact (last in the order unless --priority)")
    contact_add.add_argument("resident_id", type=int)
    contact_add.add_argument("--name", required=True)
    contact_add.add_argument("--phone", required=True, help="Polish numbers without +48 are fine")
    contact_add.add_argument("--relation", default="", help="e.g. córka, sąsiad")
    contact_add.add_argument("--priority", type=int, metavar="N", help="1 is called first")
    contact_add.add_argument("--language", default="pl", choices=("pl", "en"))
    contact_add.add_argument("--has-key", action="store_true", help="holds a key to the resident's home")
    contact_list = contact_commands.add_parser("list", help="a resident's contacts in calling order")
    contact_list.add_argument("resident_id", type=int)
    contact_remove = contact_commands.add_parser("remove", help="remove a contact (the later ones move up)")
    contact_remove.add_argument("contact_id", type=int)


def _band_registry(settings: Settings, args: argparse.Namespace) -> int | None:
    """Run a band registry subcommand; None if `args` names another band command."""
    from opaska import band_registry_commands as commands

    match args.band_command:
        case "register":
            return _run(
                commands.register(
                    settings,
                    serial=args.serial,
                    imei=args.imei,
                    model=args.model,
                    firmware=args.firmware,
                    sim_phone=args.sim_phone,
                    resident_id=args.resident,
                    by=args.by,
                    adapter=args.adapter,
                    device_id=args.device_id,
                )
            )
        case "bind":
            return _run(commands.bind(settings, serial=args.serial, resident_id=args.resident, by=args.by))
        case "swap":
            return _run(commands.swap(settings, old=args.old, new=args.new, note=args.note, by=args.by))
        case "decommission":
            return _run(commands.decommission(settings, serial=args.serial, note=args.note, by=args.by))
        case "reissue":
            return _run(commands.reissue(settings, serial=args.serial, by=args.by))
        case "revoke":
            return _run(commands.revoke(settings, serial=args.serial, by=args.by))
        case "test-start":
            return _run(commands.test_start(settings, serial=args.serial, minutes=args.minutes, by=args.by))
        case "test-stop":
            return _run(commands.test_stop(settings, serial=args.serial, by=args.by))
        case "tests":
            return _run(commands.tests(settings, serial=args.serial, limit=args.limit))
        case "health":
            return _run(
                commands.health(settings, municipality=args.municipality, csv_path=args.csv, include_all=args.all)
            )
    return None


def _resident(settings: Settings, args: argparse.Namespace) -> int:
    from opaska import resident_commands as commands

    if args.command == "municipality":
        if args.municipality_command == "add":
            return _run(commands.add_municipality(settings, code=args.code, name=args.name))
        return _run(commands.list_municipalities(settings))
    if args.command == "contact":
        if args.contact_command == "add":
            return _run(
                commands.add_contact(
                    settings,
                    resident_id=args.resident_id,
                    name=args.name,
                    phone=args.phone,
                    relation=args.relation,
                    priority=args.priority,
                    language=args.language,
                    has_key=args.has_key,
                )
            )
        if args.contact_command == "list":
            return _run(commands.list_contacts(settings, resident_id=args.resident_id))
        return _run(commands.remove_contact(settings, contact_id=args.contact_id))
    match args.resident_command:
        case "add":
            return _run(
                commands.add(
                    settings,
                    municipality=args.municipality,
                    first_name=args.first_name,
                    last_name=args.last_name,
                    address=args.address,
                    birth_date=args.birth_date,
                    phone=args.phone,
                    language=args.language,
                    access_notes=args.access_notes,
                    medical_notes=args.medical_notes,
                )
            )
        case "list":
            return _run(commands.list_residents(settings, municipality=args.municipality, include_inactive=args.all))
        case "show":
            return _run(commands.show(settings, resident_id=args.resident_id))
        case "export":
            return _run(commands.export(settings, resident_id=args.resident_id, output=args.output))
        case "erase":
            return _run(commands.erase(settings, resident_id=args.resident_id, confirmed=args.yes))
    raise AssertionError(args.resident_command)


async def _mosquitto_files(settings: Settings, directory: str, pid_file: str | None) -> int:
    from pathlib import Path

    from core.db.engine import make_session_factory
    from gateway.broker.mosquitto_auth import MosquittoAuthFiles
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
    from core.startup import redacted
    from opaska.startup import open_database

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
    if getattr(args, "allow_insecure_broker", False):
        settings = settings.model_copy(
            update={"mqtt": settings.mqtt.model_copy(update={"allow_insecure_broker": True})}
        )

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

            registry_result = _band_registry(settings, args)
            if registry_result is not None:
                return registry_result
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
        case "user":
            from opaska import user_commands

            if args.user_command == "create":
                return _run(
                    user_commands.create(
                        settings,
                        username=args.username,
                        role=args.role,
                        name=args.name,
                        municipalities=args.municipality,
                        password_stdin=args.password_stdin,
                    )
                )
            if args.user_command == "passwd":
                return _run(
                    user_commands.change_password(settings, username=args.username, password_stdin=args.password_stdin)
                )
            return _run(user_commands.list_users(settings))
        case "resident" | "contact" | "municipality":
            return _resident(settings, args)
        case "report":
            from opaska import report_commands

            return _run(report_commands.run(settings, args))
        case "import":
            from opaska import import_commands

            return _run(import_commands.run_import(settings, path=args.file, dry_run=args.dry_run, by=args.by))
        case "broker":
            return _run(_mosquitto_files(settings, args.dir, args.reload_pid_file))
        case "simulate":
            from simulator.cli import simulate, simulate_fleet

            if args.scenario:
                return _run(
                    simulate_fleet(
                        settings,
                        scenario=args.scenario,
                        bands=args.bands,
                        seed=args.seed,
                        duration_s=args.duration,
                        broker=args.broker,
                        prefix=args.prefix,
                        secrets_file=args.secrets,
                        heartbeat_interval_s=args.heartbeat_interval,
                        mosquitto_files=args.mosquitto_files,
                        json_out=args.json,
                    )
                )
            if not args.band:
                print("opaska simulate: give --band SERIAL[:SECRET] or --scenario NAME", file=sys.stderr)
                return 2
            return _run(
                simulate(
                    settings,
                    bands=args.band,
                    press=args.press,
                    heartbeats=args.heartbeats,
                    interval_s=args.interval,
                    timeout_s=args.timeout,
                    broker=args.broker,
                )
            )
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
