"""`opaska band …`: a technician's commands for one band (opaska/band_commands.py) and its registration,
binding, credentials and installation test (opaska/band_registry_commands.py)."""

from __future__ import annotations

from opaska.commands.table import Command, Group, arg

_TRAFFIC = "opaska.band_commands"
_REGISTRY = "opaska.band_registry_commands"

BY = arg("--by", metavar="USERNAME", help="arg.by")
SERIAL_OR_IMEI = arg("serial", help="arg.serial")

_TRAFFIC_COMMANDS = (
    Command(
        "config",
        help="cmd.band.config",
        description="cmd.band.config.about",
        run=f"{_TRAFFIC}:configure",
        args=(
            arg("serial"),
            arg(
                "--heartbeat-interval",
                dest="heartbeat_interval_s",
                type=int,
                metavar="S",
                help="arg.band.config.heartbeat_interval_s",
            ),
        ),
    ),
    Command("locate", help="cmd.band.locate", run=f"{_TRAFFIC}:locate", args=(arg("serial"),)),
    Command(
        "rejects",
        help="cmd.band.rejects",
        run=f"{_TRAFFIC}:rejects",
        args=(
            arg("serial", nargs="?", help="arg.band.rejects.serial"),
            arg("--limit", type=int, default=50, metavar="N"),
        ),
    ),
)

_REGISTRATION_COMMANDS = (
    Command(
        "register",
        help="cmd.band.register",
        description="cmd.band.register.about",
        run=f"{_REGISTRY}:register",
        args=(
            arg("--serial", help="arg.band.register.serial"),
            arg("--imei", help="arg.band.register.imei"),
            arg("--model", default=""),
            arg("--firmware", default=""),
            arg("--sim-phone", help="arg.band.register.sim_phone"),
            arg("--resident", dest="resident_id", type=int, metavar="ID", help="arg.band.register.resident_id"),
            arg(
                "--adapter",
                choices=["mqtt", "traccar", "watch"],
                default="mqtt",
                help="arg.band.register.adapter",
            ),
            arg(
                "--device-id",
                help="arg.band.register.device_id",
            ),
            BY,
        ),
    ),
    Command(
        "bind",
        help="cmd.band.bind",
        run=f"{_REGISTRY}:bind",
        args=(SERIAL_OR_IMEI, arg("--resident", dest="resident_id", type=int, required=True, metavar="ID"), BY),
    ),
    Command(
        "swap",
        help="cmd.band.swap",
        run=f"{_REGISTRY}:swap",
        args=(
            arg("old", help="arg.band.swap.old"),
            arg("new", help="arg.band.swap.new"),
            arg("--note", default="", help="arg.band.swap.note"),
            BY,
        ),
    ),
    Command(
        "decommission",
        help="cmd.band.decommission",
        run=f"{_REGISTRY}:decommission",
        args=(SERIAL_OR_IMEI, arg("--note", default=""), BY),
    ),
    Command(
        "reissue",
        help="cmd.band.reissue",
        run=f"{_REGISTRY}:reissue",
        args=(SERIAL_OR_IMEI, BY),
    ),
    Command(
        "revoke",
        help="cmd.band.revoke",
        run=f"{_REGISTRY}:revoke",
        args=(SERIAL_OR_IMEI, BY),
    ),
)

_INSTALLATION_COMMANDS = (
    Command(
        "test-start",
        help="cmd.band.test-start",
        description="cmd.band.test-start.about",
        run=f"{_REGISTRY}:test_start",
        args=(
            SERIAL_OR_IMEI,
            arg("--minutes", type=int, metavar="N", help="arg.band.test-start.minutes"),
            BY,
        ),
    ),
    Command("test-stop", help="cmd.band.test-stop", run=f"{_REGISTRY}:test_stop", args=(SERIAL_OR_IMEI, BY)),
    Command(
        "tests",
        help="cmd.band.tests",
        run=f"{_REGISTRY}:tests",
        args=(SERIAL_OR_IMEI, arg("--limit", type=int, default=20, metavar="N")),
    ),
    Command(
        "health",
        help="cmd.band.health",
        description="cmd.band.health.about",
        run=f"{_REGISTRY}:health",
        args=(
            arg("--municipality", metavar="CODE", help="arg.band.health.municipality"),
            arg("--csv", dest="csv_path", metavar="FILE", help="arg.band.health.csv_path"),
            arg(
                "--all",
                dest="include_all",
                action="store_true",
                help="arg.band.health.include_all",
            ),
        ),
    ),
)

GROUP = Group(
    "band",
    help="cmd.band",
    description="cmd.band.about",
    commands=(*_TRAFFIC_COMMANDS, *_REGISTRATION_COMMANDS, *_INSTALLATION_COMMANDS),
)
