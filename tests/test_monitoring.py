"""Monitoring: the Grafana dashboard and the Prometheus rules and scrape config parse (promtool where
installed, a schema check always), every metric they name is on /metrics as `opaska run` serves it,
and the care gauges (open alarms by kind and age, bands by presence, today's answer-time shares) say
what the database holds, refreshed by the console's own loop."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import opaska.platform  # noqa: F401  (every part's metrics registered, as under `opaska run`)
from alarm_center.alarms.model import AlarmKind
from alarm_center.live import AlarmFeed
from alarm_center.quality import metrics as care_metrics
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import BandSettings
from registry.model import Band
from simulator.lab.processes import REPO
from simulator.lab.staff import create_staff
from tests.support.care import alarm_story
from tests.support.require import need_program
from tests.support.seed import seed_resident_with_band

CONFIG = REPO / "config"
DASHBOARD = CONFIG / "grafana" / "opaska.json"
RULES = CONFIG / "prometheus" / "alerts.yml"
SCRAPE = CONFIG / "prometheus" / "prometheus.yml"
METRIC = re.compile(r"\bopaska_[a-z0-9_]+\b")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def dashboard_exprs() -> Iterator[str]:
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]


def rule_exprs() -> Iterator[str]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule["expr"]


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "opaska"
    assert dashboard["timezone"] == "Europe/Warsaw"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids repeat"
    datasource = yaml.safe_load((CONFIG / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] > 0, panel["title"]
        assert panel["type"] in {"row", "stat", "timeseries", "gauge", "table", "bargauge"}, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert METRIC.search(target["expr"]), target
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
    provider = yaml.safe_load((CONFIG / "grafana/provisioning/dashboards/opaska.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_the_rules_and_scrape_config_have_their_shape() -> None:
    rules = yaml.safe_load(RULES.read_text())
    names = []
    for group in rules["groups"]:
        assert group["name"]
        assert group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["labels"]["severity"] in {"critical", "warning"}
            assert rule["annotations"]["summary"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smh]", rule["for"])
            names.append(rule["alert"])
    assert len(names) == len(set(names))
    # The ones the issue asks for.
    assert {"OpaskaLifeAlarmUnclaimed", "OpaskaNoBandMessages", "OpaskaNotificationFailuresRising"} <= set(names)
    unclaimed = next(r for g in rules["groups"] for r in g["rules"] if r["alert"] == "OpaskaLifeAlarmUnclaimed")
    assert "> 60" in unclaimed["expr"]
    scrape = yaml.safe_load(SCRAPE.read_text())
    assert scrape["rule_files"] == ["alerts.yml"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]}
    assert targets == {
        "opaska-console": ["console:8000"],
        "opaska-gateway": ["gateway:9101"],
        "opaska-engine": ["engine:9102"],
    }


def test_promtool_accepts_the_rules_and_config() -> None:
    promtool = need_program("promtool")  # Debian's prometheus package, make system-deps
    # `test rules` evaluates them on made-up series: an alert that can never fire (say, a division
    # whose two sides' labels never match) fails there, not only in production.
    tests = CONFIG / "prometheus" / "alerts_test.yml"
    for args in (["check", "rules", str(RULES)], ["check", "config", str(SCRAPE)], ["test", "rules", str(tests)]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_prometheus_and_grafana_on_these_files() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert {"console", "gateway", "engine", "prometheus", "grafana"} <= set(services)
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} is published beyond this host: {port}"


def _scrape_names(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def _present(name: str, names: set[str]) -> bool:
    if name in names:
        return True
    base = re.sub(r"_(bucket|sum|count|total)$", "", name)
    return base in names


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.mark.asyncio
async def test_metrics_names_every_metric_the_dashboard_and_rules_use(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        answer = await http.get("/metrics")
    assert answer.status_code == 200
    names = _scrape_names(answer.text)
    used = {name for expr in [*dashboard_exprs(), *rule_exprs()] for name in METRIC.findall(expr)}
    assert len(used) >= 20
    missing = sorted(name for name in used if not _present(name, names))
    assert not missing, f"named by the dashboard or rules but not on /metrics: {missing}"


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no {name} {labels} on /metrics")


@pytest.mark.asyncio
async def test_the_care_gauges_follow_the_database(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    home = await seed_resident_with_band(sessions, clock)
    quiet = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Nowak")
    async with sessions() as session, session.begin():
        band = await session.get(Band, home.band_id)
        assert band is not None
        band.last_seen_at, band.online = NOW - timedelta(seconds=30), True
    operator = (await create_staff(sessions, clock, role="operator", municipality_ids=[home.municipality_id])).id
    # Claimed after 30 s this morning; an SOS waiting 90 s now; a fall claimed 20 minutes ago.
    t = NOW - timedelta(hours=2)
    await alarm_story(sessions, home, AlarmKind.FALL, raised=t, claims=[(t + timedelta(seconds=30), operator)])
    await alarm_story(sessions, home, AlarmKind.SOS, raised=NOW - timedelta(seconds=90))
    await alarm_story(
        sessions,
        quiet,
        AlarmKind.SOS,
        raised=NOW - timedelta(minutes=20),
        claims=[(NOW - timedelta(minutes=19), operator)],
    )

    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    # The app's lifespan, as uvicorn runs it: the console's loop refreshes the gauges at once.
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if care_metrics.REFRESHED_AT._value.get() == NOW.timestamp():
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
            text = (await http.get("/metrics")).text
    assert _sample(text, "opaska_care_metrics_refreshed_timestamp_seconds") == NOW.timestamp()
    assert _sample(text, "opaska_alarms_open", kind="sos", status="raised", age="60s_to_180s") == 1
    assert _sample(text, "opaska_alarms_open", kind="sos", status="claimed", age="15m_to_1h") == 1
    assert _sample(text, "opaska_alarms_open", kind="fall", status="claimed", age="over_1h") == 1
    assert _sample(text, "opaska_alarms_open", kind="sos", status="raised", age="under_60s") == 0
    assert _sample(text, "opaska_alarm_oldest_unclaimed_seconds", kind="sos") == 90
    assert _sample(text, "opaska_alarm_oldest_unclaimed_seconds", kind="fall") == 0
    assert _sample(text, "opaska_bands", presence="online") == 1
    assert _sample(text, "opaska_bands", presence="never_connected") == 1
    assert _sample(text, "opaska_bands", presence="offline") == 0
    # Today: the fall (30 s) and the quiet SOS (60 s) met 60 s; the waiting SOS (90 s) missed it.
    assert _sample(text, "opaska_alarm_answer_share_today", target="60") == pytest.approx(2 / 3)
    assert _sample(text, "opaska_alarm_answer_share_today", target="180") == 1


def test_age_buckets() -> None:
    assert [care_metrics.age_bucket(s) for s in (0, 59.9, 60, 179, 180, 899, 900, 3599, 3600, 10**6)] == [
        "under_60s", "under_60s", "60s_to_180s", "60s_to_180s", "180s_to_15m", "180s_to_15m",
        "15m_to_1h", "15m_to_1h", "over_1h", "over_1h",
    ]  # fmt: skip
    assert BandSettings().offline_after_missed >= 1
