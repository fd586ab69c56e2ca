"""`opaska simulate`: virtual bands over real MQTT, a few named ones or a fleet running a scenario."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from opaska.commands.table import Command, arg
from simulator.scenario_names import SCENARIO_NAMES

if TYPE_CHECKING:
    from core.settings import Settings

COMMAND = Command(
    "simulate",
    help="virtual bands over real MQTT",
    description="Connect virtual bands to the broker and send heartbeats and alarms, exactly as the band "
    "protocol says: an alarm is repeated until the platform's alarm_received arrives.",
    run="opaska.commands.simulate:simulate",
    args=(
        arg(
            "--band",
            dest="named_bands",
            action="append",
            metavar="SERIAL[:SECRET]",
            help="a registered band (repeatable); the demo bands' secrets are read from var/demo-bands.txt",
        ),
        arg("--scenario", choices=SCENARIO_NAMES, help="run a fleet of --bands bands through this"),
        arg("--bands", type=int, default=100, metavar="N", help="fleet size (default 100)"),
        arg("--seed", type=int, default=1, metavar="S", help="seed of the scenario's choices"),
        arg("--duration", dest="duration_s", type=float, metavar="S", help="scenario length in seconds (default 60)"),
        arg("--broker", metavar="URL", help="the bands' broker listener, e.g. mqtt://127.0.0.1:1883"),
        arg("--prefix", default="SIM", help="serial prefix of the simulated fleet (default SIM)"),
        arg(
            "--secrets",
            dest="secrets_file",
            metavar="FILE",
            help="fleet secrets (default var/simulated-bands-PREFIX.tsv)",
        ),
        arg(
            "--heartbeat-interval",
            dest="heartbeat_interval_s",
            type=float,
            default=300.0,
            metavar="S",
            help="until a config downlink says otherwise",
        ),
        arg("--mosquitto-files", metavar="DIR", help="also render Mosquitto's password and ACL files"),
        arg("--json", dest="json_out", metavar="FILE", help="write the scenario's report as JSON"),
        arg(
            "--press",
            choices=("sos", "fall", "fall_cancel"),
            help="send this from every band (repeated until alarm_received), then stop",
        ),
        arg("--heartbeats", type=int, default=1, metavar="N", help="heartbeats per band before pressing (default 1)"),
        arg(
            "--interval",
            dest="interval_s",
            type=float,
            default=1.0,
            metavar="S",
            help="seconds between heartbeats (default 1)",
        ),
        arg(
            "--timeout",
            dest="timeout_s",
            type=float,
            default=60.0,
            metavar="S",
            help="give up waiting for alarm_received after S seconds",
        ),
    ),
)


async def simulate(
    settings: Settings,
    *,
    named_bands: list[str] | None,
    scenario: str | None,
    broker: str | None,
    press: str | None,
    heartbeats: int,
    interval_s: float,
    timeout_s: float,
    **fleet: Any,
) -> int:
    """A fleet through --scenario, else the --band bands; both on --broker if given."""
    from simulator import cli

    if scenario:
        return await cli.simulate_fleet(settings, scenario=scenario, broker=broker, **fleet)
    if not named_bands:
        print("opaska simulate: give --band SERIAL[:SECRET] or --scenario NAME", file=sys.stderr)
        return 2
    return await cli.simulate(
        settings,
        bands=named_bands,
        press=press,
        heartbeats=heartbeats,
        interval_s=interval_s,
        timeout_s=timeout_s,
        broker=broker,
    )
