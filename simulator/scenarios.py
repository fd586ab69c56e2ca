"""Scenarios for a fleet: what the bands do, chosen and timed by a seeded random generator.

Every scenario runs the fleet's heartbeats for its whole duration and puts its events (presses,
cancels, silences...) inside it. Its report says what the platform should now hold (`expected`),
so a test or a benchmark can check it against the database.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from simulator.fleet import AlarmOutcome, Fleet, FleetBand
from simulator.scenario_names import SCENARIO_NAMES


@dataclass
class Expected:
    """What the platform should hold after the scenario, by band serial."""

    alarms: list[tuple[str, str]] = field(default_factory=list)  # (serial, kind): each one alarm
    cancelled_falls: list[str] = field(default_factory=list)
    repeated_presses: dict[str, int] = field(default_factory=dict)  # serial -> presses merged into one alarm
    silent: list[str] = field(default_factory=list)
    battery_low: list[str] = field(default_factory=list)
    strap_off: list[str] = field(default_factory=list)


@dataclass
class ScenarioReport:
    scenario: str
    bands: int
    seed: int
    duration_s: float
    elapsed_s: float
    expected: Expected
    stats: dict[str, Any]
    alarm_ack_ms: dict[str, float]
    unacknowledged: list[str]
    reconnect_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    fleet: Fleet
    rng: random.Random
    duration_s: float
    expected: Expected
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    reconnect_s: float | None = None

    def pick(self, fraction: float) -> list[FleetBand]:
        """A seeded choice of max(1, fraction of the fleet) bands."""
        count = min(len(self.fleet.bands), max(1, round(len(self.fleet.bands) * fraction)))
        return self.rng.sample(self.fleet.bands, count)

    def at(self, delay_s: float, action: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        async def later() -> Any:
            await asyncio.sleep(delay_s)
            return await action(*args, **kwargs)

        self.tasks.append(asyncio.create_task(later()))

    def when(self, fraction: float = 0.5) -> float:
        """A moment in the first `fraction` of the run."""
        return self.rng.uniform(0, self.duration_s * fraction)


Scenario = Callable[[Context], None]


def normal_day(ctx: Context) -> None:
    """Heartbeats at each band's interval; now and then someone presses SOS (1 band in 1,000)."""
    for band in ctx.pick(0.001):
        ctx.expected.alarms.append((band.serial, "sos"))
        ctx.at(ctx.when(0.7), ctx.fleet.press, band, "sos", battery=round(band.battery))


def fall_then_cancel(ctx: Context) -> None:
    """A fall, then "I am OK" a few seconds later, well within the cancel window."""

    async def fall_and_cancel(band: FleetBand) -> None:
        fall = await ctx.fleet.press(band, "fall", confidence=0.9)
        if fall.answer is None:
            return
        await asyncio.sleep(ctx.rng.uniform(0.5, min(5.0, band.fall_cancel_window_s / 3)))
        await ctx.fleet.press(band, "fall_cancel", fall_msg_id=fall.msg_id)

    for band in ctx.pick(0.01):
        ctx.expected.alarms.append((band.serial, "fall"))
        ctx.expected.cancelled_falls.append(band.serial)
        ctx.at(ctx.when(), fall_and_cancel, band)


def fall_without_cancel(ctx: Context) -> None:
    """A fall nobody cancels: the alarm stays open for an operator."""
    for band in ctx.pick(0.01):
        ctx.expected.alarms.append((band.serial, "fall"))
        ctx.at(ctx.when(), ctx.fleet.press, band, "fall", confidence=0.75)


def repeated_presses(ctx: Context) -> None:
    """A worried resident presses SOS three times, a second apart: one alarm, two repeats."""

    async def press_thrice(band: FleetBand) -> None:
        for _ in range(3):
            await ctx.fleet.press(band, "sos")
            await asyncio.sleep(1.0)

    for band in ctx.pick(0.01):
        ctx.expected.alarms.append((band.serial, "sos"))
        ctx.expected.repeated_presses[band.serial] = 3
        ctx.at(ctx.when(0.3), press_thrice, band)


def band_goes_silent(ctx: Context) -> None:
    """The band dies without a word (battery flat, out of coverage): its will says offline."""

    async def silence(band: FleetBand) -> None:
        ctx.fleet.go_silent(band)

    for band in ctx.pick(0.01):
        ctx.expected.silent.append(band.serial)
        ctx.at(ctx.when(0.3), silence, band)


def battery_drains(ctx: Context) -> None:
    """The battery runs down from 25 % to 15 % (a heartbeat each step); battery_low once under 20 %."""

    async def drain(band: FleetBand) -> None:
        step_s = ctx.duration_s * 0.6 / 10
        band.battery = 25
        for _ in range(10):
            band.battery -= 1
            ctx.fleet.heartbeat(band)
            if band.battery == 19:
                ctx.fleet.send(band, "battery_low", battery=19)
            await asyncio.sleep(step_s)

    for band in ctx.pick(0.01):
        ctx.expected.battery_low.append(band.serial)
        ctx.at(ctx.when(0.2), drain, band)


def strap_off(ctx: Context) -> None:
    """The resident takes the band off: a strap report, then heartbeats saying not worn."""

    async def take_off(band: FleetBand) -> None:
        band.worn = False
        ctx.fleet.send(band, "strap", state="removed")
        ctx.fleet.heartbeat(band)

    for band in ctx.pick(0.01):
        ctx.expected.strap_off.append(band.serial)
        ctx.at(ctx.when(0.3), take_off, band)


def sos_storm(ctx: Context) -> None:
    """Every band presses SOS within a few seconds (a mass event, or a firmware bug)."""
    window = min(5.0, ctx.duration_s / 2)
    for band in ctx.fleet.bands:
        ctx.expected.alarms.append((band.serial, "sos"))
        ctx.at(ctx.rng.uniform(0, window), ctx.fleet.press, band, "sos")


def reconnect_storm(ctx: Context) -> None:
    """Every connection drops at once, as in a broker restart; the bands come back with jittered backoff."""

    async def storm() -> None:
        fleet = ctx.fleet
        started = time.monotonic()
        fleet.drop_all()
        await asyncio.sleep(0.1)
        while fleet.connected < len(fleet.bands):  # noqa: ASYNC110 - sampled: no event says "all back"
            await asyncio.sleep(0.1)
        ctx.reconnect_s = time.monotonic() - started

    ctx.at(min(2.0, ctx.duration_s * 0.2), storm)


SCENARIOS: dict[str, Scenario] = {
    "normal_day": normal_day,
    "fall_cancel": fall_then_cancel,
    "fall_no_cancel": fall_without_cancel,
    "repeated_presses": repeated_presses,
    "band_silent": band_goes_silent,
    "battery_drains": battery_drains,
    "strap_off": strap_off,
    "sos_storm": sos_storm,
    "reconnect_storm": reconnect_storm,
}
if tuple(sorted(SCENARIOS)) != SCENARIO_NAMES:
    raise ImportError("simulator/scenario_names.py must list exactly the scenarios of SCENARIOS")


def _percentiles(outcomes: list[AlarmOutcome]) -> dict[str, float]:
    seconds = sorted(o.seconds for o in outcomes if o.answer is not None)
    if not seconds:
        return {}
    cut = statistics.quantiles(seconds, n=100) if len(seconds) > 1 else [seconds[0]] * 99
    return {"p50": cut[49] * 1000, "p99": cut[98] * 1000, "max": seconds[-1] * 1000}


async def _progress(fleet: Fleet, started: float, out: TextIO, every_s: float) -> None:
    last_sent, last_at = 0, started
    while True:
        await asyncio.sleep(every_s)
        now = time.monotonic()
        sent = sum(fleet.stats.sent.values())
        acked = sum(1 for a in fleet.stats.alarms if a.answer is not None)
        print(
            f"[{now - started:7.1f} s] connected {fleet.connected}/{len(fleet.bands)}  sent {sent} "
            f"({(sent - last_sent) / (now - last_at):.0f}/s)  alarms acknowledged {acked}/{len(fleet.stats.alarms)}  "
            f"repeats {fleet.stats.repeats}  connections lost {fleet.stats.losses}",
            file=out,
            flush=True,
        )
        last_sent, last_at = sent, now


async def run_scenario(
    fleet: Fleet,
    name: str,
    *,
    seed: int,
    duration_s: float,
    grace_s: float = 60.0,
    progress: TextIO | None = None,
    progress_every_s: float = 5.0,
) -> ScenarioReport:
    """Run one scenario on a started fleet; waits up to `grace_s` after the end for unacknowledged alarms."""
    ctx = Context(fleet, random.Random(seed), duration_s, Expected())  # noqa: S311 - a simulation
    started = time.monotonic()
    reporter = asyncio.create_task(_progress(fleet, started, progress, progress_every_s)) if progress else None
    try:
        SCENARIOS[name](ctx)
        await asyncio.sleep(duration_s)
        if ctx.tasks:
            _, pending = await asyncio.wait(ctx.tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            for result in await asyncio.gather(*ctx.tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    print(f"scenario event failed: {result!r}", file=progress or sys.stderr)
    finally:
        if reporter is not None:
            reporter.cancel()
    return ScenarioReport(
        scenario=name,
        bands=len(fleet.bands),
        seed=seed,
        duration_s=duration_s,
        elapsed_s=time.monotonic() - started,
        expected=ctx.expected,
        stats=fleet.stats.as_dict(),
        alarm_ack_ms=_percentiles(fleet.stats.alarms),
        unacknowledged=[f"{o.serial}:{o.kind}:{o.msg_id}" for o in fleet.stats.alarms if o.answer is None],
        reconnect_s=ctx.reconnect_s,
    )


def print_report(report: ScenarioReport, out: TextIO = sys.stdout) -> None:
    stats = report.stats
    print(f"scenario {report.scenario}: {report.bands} bands, seed {report.seed}, {report.elapsed_s:.1f} s", file=out)
    print(f"  sent: {stats['sent']}  downlink: {stats['downlink']}", file=out)
    print(
        f"  alarms acknowledged {stats['alarms_acknowledged']}/{stats['alarms']} (repeats {stats['repeats']}), "
        f"press to alarm_received ms: {report.alarm_ack_ms or '-'}",
        file=out,
    )
    if report.reconnect_s is not None:
        print(f"  all {report.bands} bands back after {report.reconnect_s:.1f} s", file=out)
    for line in report.unacknowledged[:10]:
        print(f"  NOT acknowledged: {line}", file=out)
