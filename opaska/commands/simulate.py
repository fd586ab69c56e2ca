"""`opaska simulate`: virtual bands over real MQTT, a few named ones or a fleet running a scenario."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from opaska.commands.table import Command, arg
from opaska.exits import BAD_INPUT
from opaska.messages import say
from simulator.scenario_names import SCENARIO_NAMES

if TYPE_CHECKING:
    from core.settings import Settings

COMMAND = Command(
    "simulate",
    help="cmd.simulate",
    description="cmd.simulate.about",
    run="opaska.commands.simulate:simulate",
    args=(
        arg(
            "--band",
            dest="named_bands",
            action="append",
            metavar="SERIAL[:SECRET]",
            help="arg.simulate.named_bands",
        ),
        arg("--scenario", choices=SCENARIO_NAMES, help="arg.simulate.scenario"),
        arg("--bands", type=int, default=100, metavar="N", help="arg.simulate.bands"),
        arg("--seed", type=int, default=1, metavar="S", help="arg.simulate.seed"),
        arg("--duration", dest="duration_s", type=float, metavar="S", help="arg.simulate.duration_s"),
        arg("--broker", metavar="URL", help="arg.simulate.broker"),
        arg("--prefix", default="SIM", help="arg.simulate.prefix"),
        arg(
            "--secrets",
            dest="secrets_file",
            metavar="FILE",
            help="arg.simulate.secrets_file",
        ),
        arg(
            "--heartbeat-interval",
            dest="heartbeat_interval_s",
            type=float,
            default=300.0,
            metavar="S",
            help="arg.simulate.heartbeat_interval_s",
        ),
        arg("--mosquitto-files", metavar="DIR", help="arg.simulate.mosquitto_files"),
        arg("--json", dest="json_out", metavar="FILE", help="arg.simulate.json_out"),
        arg(
            "--press",
            choices=("sos", "fall", "fall_cancel"),
            help="arg.simulate.press",
        ),
        arg("--heartbeats", type=int, default=1, metavar="N", help="arg.simulate.heartbeats"),
        arg(
            "--interval",
            dest="interval_s",
            type=float,
            default=1.0,
            metavar="S",
            help="arg.simulate.interval_s",
        ),
        arg(
            "--timeout",
            dest="timeout_s",
            type=float,
            default=60.0,
            metavar="S",
            help="arg.simulate.timeout_s",
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
        print(f"opaska simulate: {say('simulate.no_bands')}", file=sys.stderr)
        return BAD_INPUT
    return await cli.simulate(
        settings,
        bands=named_bands,
        press=press,
        heartbeats=heartbeats,
        interval_s=interval_s,
        timeout_s=timeout_s,
        broker=broker,
    )
