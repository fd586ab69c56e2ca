"""`opaska band …`: a technician's commands for one band (opaska/band_commands.py) and its registration,
binding, credentials and installation test (opaska/band_registry_commands.py)."""

from __future__ import annotations

from opaska.commands.table import Command, Group, arg

_TRAFFIC = "opaska.band_commands"
_REGISTRY = "opaska.band_registry_commands"

BY = arg("--by", metavar="USERNAME", help="the technician's console username, kept in the band's history")
SERIAL_OR_IMEI = arg("serial", help="serial or IMEI")

_TRAFFIC_COMMANDS = (
    Command(
        "config",
        help="set the band's heartbeat interval and send it its config (retained)",
        description="Store the band's own heartbeat interval (none: the default from [bands]) and queue its "
        "retained `config` downlink (heartbeat interval, fall cancel window).",
        run=f"{_TRAFFIC}:configure",
        args=(
            arg("serial"),
            arg(
                "--heartbeat-interval",
                dest="heartbeat_interval_s",
                type=int,
                metavar="S",
                help="seconds (10-86400); omit: default",
            ),
        ),
    ),
    Command("locate", help="ask the band where it is", run=f"{_TRAFFIC}:locate", args=(arg("serial"),)),
    Command(
        "rejects",
        help="rejected messages, newest first (from the dead-letter table)",
        run=f"{_TRAFFIC}:rejects",
        args=(
            arg("serial", nargs="?", help="one band (default: all)"),
            arg("--limit", type=int, default=50, metavar="N"),
        ),
    ),
)

_REGISTRATION_COMMANDS = (
    Command(
        "register",
        help="register a band by serial or IMEI and print its MQTT credentials (once)",
        description="Register a band. Its serial is its MQTT username; with --imei alone the IMEI (15 digits, "
        "Luhn-checked) is the serial. The MQTT password is printed once and stored only hashed.",
        run=f"{_REGISTRY}:register",
        args=(
            arg("--serial", help="the band's serial number (1-64 characters, no + # / :)"),
            arg("--imei", help="the band's IMEI (15 digits with a valid check digit)"),
            arg("--model", default=""),
            arg("--firmware", default=""),
            arg("--sim-phone", help="the phone number of the band's SIM card"),
            arg("--resident", dest="resident_id", type=int, metavar="ID", help="bind it to this resident at once"),
            arg(
                "--adapter",
                choices=["mqtt", "traccar", "watch"],
                default="mqtt",
                help="how the band reaches opaska: its own MQTT protocol (default), through Traccar, or the watch "
                "protocol over TCP (docs/devices/); traccar and watch bands get no MQTT password",
            ),
            arg(
                "--device-id",
                help="the band's identity at its adapter: Traccar's 'Identifier' (uniqueId), or the ID a watch "
                "sends (its IMEI, or a shorter registration code); defaults to --imei",
            ),
            BY,
        ),
    ),
    Command(
        "bind",
        help="give a band (in stock) to a resident",
        run=f"{_REGISTRY}:bind",
        args=(SERIAL_OR_IMEI, arg("--resident", dest="resident_id", type=int, required=True, metavar="ID"), BY),
    ),
    Command(
        "swap",
        help="replace a resident's band: the old one is retired, the new one bound; history kept",
        run=f"{_REGISTRY}:swap",
        args=(
            arg("old", help="serial or IMEI of the band taken away"),
            arg("new", help="serial or IMEI of the band given (from stock)"),
            arg("--note", default="", help="why, e.g. 'pęknięty pasek'"),
            BY,
        ),
    ),
    Command(
        "decommission",
        help="retire a band for good: unbound, credentials revoked, history kept",
        run=f"{_REGISTRY}:decommission",
        args=(SERIAL_OR_IMEI, arg("--note", default=""), BY),
    ),
    Command(
        "reissue",
        help="new MQTT credentials (printed once); the old stop working",
        run=f"{_REGISTRY}:reissue",
        args=(SERIAL_OR_IMEI, BY),
    ),
    Command(
        "revoke",
        help="revoke the band's MQTT credentials: every broker refuses it",
        run=f"{_REGISTRY}:revoke",
        args=(SERIAL_OR_IMEI, BY),
    ),
)

_INSTALLATION_COMMANDS = (
    Command(
        "test-start",
        help="installation test: the band's SOS and falls are test alarms for a while",
        description="Put the band in test mode: its SOS and falls are stored as test alarms, reach the console "
        "marked TEST and are never escalated to relatives; each gets a test result (latency, pass/fail). "
        "Test mode ends by itself after [bands] test_mode_minutes.",
        run=f"{_REGISTRY}:test_start",
        args=(
            SERIAL_OR_IMEI,
            arg("--minutes", type=int, metavar="N", help="how long (default: [bands] test_mode_minutes)"),
            BY,
        ),
    ),
    Command("test-stop", help="end test mode now", run=f"{_REGISTRY}:test_stop", args=(SERIAL_OR_IMEI, BY)),
    Command(
        "tests",
        help="the band's installation test results, newest first",
        run=f"{_REGISTRY}:tests",
        args=(SERIAL_OR_IMEI, arg("--limit", type=int, default=20, metavar="N")),
    ),
    Command(
        "health",
        help="bands offline, not worn, low on battery, never connected or with many rejected messages",
        description="Device health: bands that need a technician, with last seen and battery. --csv writes the "
        "list for Excel (UTF-8 with BOM, ';' separated; see docs/registry-import.md).",
        run=f"{_REGISTRY}:health",
        args=(
            arg("--municipality", metavar="CODE", help="only bands bound in this municipality"),
            arg("--csv", dest="csv_path", metavar="FILE", help="write the list to FILE as CSV instead of printing it"),
            arg(
                "--all",
                dest="include_all",
                action="store_true",
                help="every band in service or stock, not only those with problems",
            ),
        ),
    ),
)

GROUP = Group(
    "band",
    help="a technician's commands for one band",
    description="Send a band its configuration or a locate request, or read its rejected messages.",
    commands=(*_TRAFFIC_COMMANDS, *_REGISTRATION_COMMANDS, *_INSTALLATION_COMMANDS),
)
