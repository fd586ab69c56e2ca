"""EMQX's HTTP auth hooks, served by the console app, against a migrated registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import MqttSettings, Settings
from gateway.broker.acl import TopicRules, band_client_id, platform_client_id
from gateway.broker.credential_store import CredentialStore
from gateway.broker.emqx_hooks import EmqxHooks
from gateway.topics import TopicScheme
from opaska.console_app import console_app
from registry.bands import revoke_credentials
from registry.model import Band, BandStatus
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = pytest.mark.asyncio

TOKEN = "hook-token-for-tests"
SERVICE = "opaska-service"
SERVICE_PASSWORD = "service-pass"
ROOT = "opaska/v1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Hooks:
    http: httpx.AsyncClient
    a: SeededBand
    b: SeededBand
    topics: TopicScheme

    async def authenticate(self, username: str, password: str, clientid: str | None = None) -> str:
        """By default with the client id the username calls for: `band-{serial}`, or the gateway's."""
        if clientid is None:
            clientid = "opaska-gateway" if username == SERVICE else band_client_id(username)
        response = await self.http.post(
            "/mqtt/emqx/authenticate",
            json={"username": username, "password": password, "clientid": clientid},
            headers=AUTH,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["is_superuser"] is False
        return str(body["result"])

    async def authorize(self, username: str, action: str, topic: str) -> str:
        response = await self.http.post(
            "/mqtt/emqx/authorize",
            json={"username": username, "topic": topic, "action": action, "clientid": "c", "qos": 1, "retain": "false"},
            headers=AUTH,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["result"])


def _app(sessions: async_sessionmaker[AsyncSession], hooks: EmqxHooks | None) -> httpx.AsyncClient:
    app = console_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), emqx_hooks=hooks)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


@pytest_asyncio.fixture
async def hooks(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Hooks]:
    a = await seed_resident_with_band(sessions, clock, first_name="Anna")
    b = await seed_resident_with_band(sessions, clock, first_name="Barbara")
    topics = TopicScheme(ROOT)
    credentials = CredentialStore(sessions, service_username=SERVICE, service_password=SERVICE_PASSWORD)
    async with _app(sessions, EmqxHooks(TOKEN, credentials, TopicRules(topics))) as http:
        yield Hooks(http, a, b, topics)


async def test_authentication_allows_a_band_with_its_secret_and_the_service_account(hooks: Hooks) -> None:
    a, b = hooks.a, hooks.b
    assert await hooks.authenticate(a.serial, a.secret) == "allow"
    assert await hooks.authenticate(SERVICE, SERVICE_PASSWORD) == "allow"
    assert await hooks.authenticate(a.serial, "wrong") == "deny"
    assert await hooks.authenticate(a.serial, b.secret) == "deny"
    assert await hooks.authenticate("B-unknown", a.secret) == "deny"
    assert await hooks.authenticate("", "") == "deny"  # what EMQX sends for an anonymous client
    assert await hooks.authenticate(SERVICE, a.secret) == "deny"
    assert await hooks.authenticate("a/+/#", a.secret) == "deny"


async def test_authentication_binds_the_client_id(hooks: Hooks) -> None:
    """A band only as `band-{serial}`, the service account never so: otherwise a band could take
    over another band's session, or the gateway's, and EMQX would kick the owner off."""
    a, b = hooks.a, hooks.b
    assert await hooks.authenticate(a.serial, a.secret, band_client_id(a.serial)) == "allow"
    for clientid in (
        band_client_id(b.serial),  # another band's
        "opaska-gateway",  # the gateway's before issue 16
        platform_client_id("opaska", "gateway"),  # the gateway's
        platform_client_id("opaska", "gateway") + "-alarms",  # its alarm lane
        a.serial,
        f"{band_client_id(a.serial)}x",
        band_client_id(a.serial).upper(),
        "",  # missing from EMQX's body template
    ):
        assert await hooks.authenticate(a.serial, a.secret, clientid) == "deny", clientid
    assert await hooks.authenticate(SERVICE, SERVICE_PASSWORD, "opaska-gateway") == "allow"
    assert await hooks.authenticate(SERVICE, SERVICE_PASSWORD, platform_client_id("opaska", "gateway")) == "allow"
    # Nobody else gets the platform's ids: anonymous, or the service account's name with a wrong password.
    for username, password in (("", ""), (SERVICE, "not-the-password")):
        assert await hooks.authenticate(username, password, platform_client_id("opaska", "gateway")) == "deny"
    for clientid in (band_client_id(a.serial), "band-", ""):
        assert await hooks.authenticate(SERVICE, SERVICE_PASSWORD, clientid) == "deny", clientid


async def test_a_retired_band_is_denied(
    hooks: Hooks, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Band).where(Band.serial == hooks.a.serial).values(status=BandStatus.RETIRED))
    # A fresh store: the cache of the fixture's store would keep the hash for its refresh interval.
    credentials = CredentialStore(sessions, service_username=SERVICE, service_password=SERVICE_PASSWORD)
    async with _app(sessions, EmqxHooks(TOKEN, credentials, TopicRules(hooks.topics))) as http:
        fresh = Hooks(http, hooks.a, hooks.b, hooks.topics)
        assert await fresh.authenticate(hooks.a.serial, hooks.a.secret) == "deny"
        assert await fresh.authenticate(hooks.b.serial, hooks.b.secret) == "allow"


async def test_a_band_revoked_while_connected_loses_its_rights(
    hooks: Hooks, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """EMQX keeps a connection made before the revocation; the hook it asks per publish says no."""
    credentials = CredentialStore(sessions, service_username=SERVICE, service_password=SERVICE_PASSWORD)
    async with _app(sessions, EmqxHooks(TOKEN, credentials, TopicRules(hooks.topics))) as http:
        live = Hooks(http, hooks.a, hooks.b, hooks.topics)
        sos = hooks.topics.uplink(hooks.a.serial, "sos")
        assert await live.authorize(hooks.a.serial, "publish", sos) == "allow"
        async with sessions() as session, session.begin():
            await revoke_credentials(session, clock, band_id=hooks.a.band_id)
        await credentials.refresh()  # what its periodic reload does
        assert await live.authorize(hooks.a.serial, "publish", sos) == "deny"
        assert await live.authorize(hooks.a.serial, "subscribe", hooks.topics.downlink_filter(hooks.a.serial)) == "deny"
        assert await live.authorize(hooks.b.serial, "publish", hooks.topics.uplink(hooks.b.serial, "sos")) == "allow"


async def test_authorization_matrix(hooks: Hooks) -> None:
    t, a, b = hooks.topics, hooks.a.serial, hooks.b.serial
    allow = [
        (a, "publish", t.uplink(a, "sos")),
        (a, "publish", t.uplink(a, "heartbeat")),
        (a, "publish", t.status(a)),
        (a, "subscribe", t.downlink_filter(a)),
        (a, "subscribe", t.downlink(a, "alarm_received")),
        (SERVICE, "subscribe", t.uplink_filter),
        (SERVICE, "subscribe", f"$share/gateway/{t.uplink_filter}"),
        (SERVICE, "publish", t.downlink(a, "alarm_received")),
        (SERVICE, "publish", t.downlink(b, "config")),
    ]
    deny = [
        (a, "publish", t.uplink(b, "sos")),  # another band's uplink
        (a, "publish", t.status(b)),
        (a, "publish", t.downlink(a, "alarm_received")),  # no band writes a downlink
        (a, "publish", t.downlink(b, "config")),
        (a, "publish", f"{t.uplink(a, 'sos')}/extra"),
        (a, "publish", t.uplink(a, "+")),
        (a, "subscribe", t.downlink_filter(b)),  # another band's downlink
        (a, "subscribe", f"{ROOT}/bands/+/down/#"),
        (a, "subscribe", f"{ROOT}/#"),
        (a, "subscribe", t.uplink_filter),
        (a, "subscribe", "#"),
        (SERVICE, "publish", "elsewhere/topic"),  # the service account stays under the root
        (SERVICE, "subscribe", "#"),
        ("B-unknown/../x", "publish", t.uplink("B-unknown", "sos")),
    ]
    for username, action, topic in allow:
        assert await hooks.authorize(username, action, topic) == "allow", (username, action, topic)
    for username, action, topic in deny:
        assert await hooks.authorize(username, action, topic) == "deny", (username, action, topic)


@pytest.mark.parametrize("path", ["/mqtt/emqx/authenticate", "/mqtt/emqx/authorize"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_a_wrong_or_missing_token_is_401(hooks: Hooks, path: str, headers: dict[str, str]) -> None:
    body = {"username": hooks.a.serial, "password": hooks.a.secret, "topic": "x", "action": "publish"}
    response = await hooks.http.post(path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    # A bad body without the token says nothing about the fields either.
    assert (await hooks.http.post(path, json={}, headers=headers)).status_code == 401


@pytest.mark.parametrize("path", ["/mqtt/emqx/authenticate", "/mqtt/emqx/authorize"])
async def test_hooks_are_404_when_no_token_is_configured(sessions: async_sessionmaker[AsyncSession], path: str) -> None:
    async with _app(sessions, None) as http:
        response = await http.post(path, json={"username": "x", "password": "y"}, headers=AUTH)
    assert response.status_code == 404
    settings = Settings(mqtt=MqttSettings(hook_token=""))
    assert EmqxHooks.from_settings(settings, sessions) is None


async def test_hooks_from_settings_take_the_service_password_from_the_url(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    settings = Settings(mqtt=MqttSettings(hook_token=TOKEN, url="mqtt://opaska-service:p%40ss@emqx:1883"))
    made = EmqxHooks.from_settings(settings, sessions)
    assert made is not None
    async with _app(sessions, made) as http:
        response = await http.post(
            "/mqtt/emqx/authenticate",
            json={"username": SERVICE, "password": "p@ss", "clientid": "opaska-gateway"},
            headers=AUTH,
        )
    assert response.json() == {"result": "allow", "is_superuser": False}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/mqtt/emqx/authenticate", {"password": "x"}, "username"),
        ("/mqtt/emqx/authenticate", {"username": "x"}, "password"),
        ("/mqtt/emqx/authenticate", {"username": 5, "password": "x"}, "username"),
        ("/mqtt/emqx/authorize", {"username": "x", "topic": "t", "action": "all"}, "action"),
        ("/mqtt/emqx/authorize", {"username": "x", "topic": "", "action": "publish"}, "topic"),
        ("/mqtt/emqx/authorize", {"username": "x", "action": "publish"}, "topic"),
    ],
)
async def test_a_malformed_body_is_422_with_the_field_named(
    hooks: Hooks, path: str, body: dict[str, Any], field: str
) -> None:
    response = await hooks.http.post(path, json=body, headers=AUTH)
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


async def test_a_body_that_is_not_json_is_422(hooks: Hooks) -> None:
    response = await hooks.http.post(
        "/mqtt/emqx/authorize", content=b"username=x", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
