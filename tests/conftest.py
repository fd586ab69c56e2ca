"""Shared fixtures. The defaults are SQLite and the embedded broker; OPASKA_TEST_DATABASE_URL and
OPASKA_TEST_MQTT_URL switch the whole suite to PostgreSQL and an external broker (Mosquitto)."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.db.engine import make_engine, make_session_factory
from core.mqtt.endpoint import MqttEndpoint, parse_mqtt_url
from gateway.broker.acl import TopicRules
from gateway.broker.credential_store import CredentialStore
from gateway.broker.embedded import EmbeddedBroker
from gateway.topics import TopicScheme
from tests.support.databases import Template, create_template, drop_database, drop_template, fresh_database
from tests.support.gateway import GatewayHarness
from tests.support.require import free_port

TEST_MQTT_URL = os.environ.get("OPASKA_TEST_MQTT_URL", "")
ON_POSTGRESQL = os.environ.get("OPASKA_TEST_DATABASE_URL", "").startswith("postgresql")
TEST_SERVICE_USERNAME = "opaska-test-service"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


# Fixtures that bring the test database or the test broker: a test using none of them, in a module
# that does not read the test services' addresses itself, runs the same whatever the stack.
STACK_FIXTURES = frozenset({"db_template", "mqtt_endpoint", "embedded_test_broker"})
STACK_NAMES = ("OPASKA_TEST_", "TEST_MQTT_URL", "ON_POSTGRESQL")


def _uses_the_stack(item: pytest.Item) -> bool:
    if STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    source = Path(str(item.fspath)).read_text(encoding="utf-8")
    return any(name in source for name in STACK_NAMES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Marked here rather than by hand, so a new unit test is not run twice by .ci/run's second
    # stage (PostgreSQL + Mosquitto) for nothing, and a test that starts using the database is.
    for item in items:
        if not _uses_the_stack(item):
            item.add_marker(pytest.mark.stack_independent)
    # A PostgreSQL-only test has nothing to prove on SQLite: it is deselected there (and counted as
    # such in the summary), not skipped, so a skip always means something is missing.
    if ON_POSTGRESQL:
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql_only")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql_only")]


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    template = create_template(tmp_path_factory.mktemp("db-template"))
    yield template
    drop_template(template)


@pytest_asyncio.fixture
async def database_url(db_template: Template, tmp_path: Path) -> AsyncIterator[str]:
    url = await fresh_database(db_template, tmp_path)
    yield url
    await drop_database(db_template, url)


@pytest_asyncio.fixture
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(db_engine)


@pytest.fixture
def clock() -> FakeClock:
    # Starts at the real time: virtual bands stamp messages with the wall clock.
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def topics() -> TopicScheme:
    # A root of its own per test: tests share one external broker without hearing each other.
    return TopicScheme(f"test-{uuid.uuid4().hex[:10]}/opaska/v1")


@pytest.fixture
def client_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture
async def mqtt_endpoint(sessions: async_sessionmaker[AsyncSession], topics: TopicScheme) -> AsyncIterator[MqttEndpoint]:
    """The external test broker if configured, otherwise an embedded amqtt on a free port.

    The embedded one authenticates against the test's database, as in production: the endpoint
    carries the service account, bands connect with their serial and secret.
    """
    if TEST_MQTT_URL:
        yield parse_mqtt_url(TEST_MQTT_URL)
        return
    async with embedded_test_broker(sessions, topics) as endpoint:
        yield endpoint


@asynccontextmanager
async def embedded_test_broker(
    sessions: async_sessionmaker[AsyncSession], topics: TopicScheme
) -> AsyncIterator[MqttEndpoint]:
    """An embedded amqtt on a free port that authenticates bands against the test's database."""
    service_password = secrets.token_urlsafe(16)
    credentials = CredentialStore(sessions, service_username=TEST_SERVICE_USERNAME, service_password=service_password)
    broker = EmbeddedBroker("127.0.0.1", free_port(), credentials=credentials, rules=TopicRules(topics))
    await broker.start()
    try:
        yield replace(parse_mqtt_url(broker.url), username=TEST_SERVICE_USERNAME, password=service_password)
    finally:
        await broker.stop()


@pytest.fixture
def mqtt_protocol() -> str:
    return "5" if TEST_MQTT_URL else "3.1.1"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def harness(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    mqtt_endpoint: MqttEndpoint,
    topics: TopicScheme,
    client_prefix: str,
    mqtt_protocol: str,
) -> GatewayHarness:
    return GatewayHarness(sessions, clock, mqtt_endpoint, topics, client_prefix, mqtt_protocol)
