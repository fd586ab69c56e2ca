"""Browser security headers on every answer of the console (console/security_headers.py), and the
trusted-proxy rule (console/forwarded.py) that decides https: HSTS and the Secure cookie.

The walk asks every route of the app's route list, as nobody, an operator and an administrator, with
made-up ids and no body: whatever it answers (200, 303, 401, 403, 404, 405, 422) carries the
headers, and so do static files and a path that does not exist."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Mount

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from console.forwarded import forwarded_client, parse_networks
from console.security_headers import content_security_policy, tiles_source
from core.clock import FakeClock
from core.settings import ConsoleSettings
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.routes import app_routes
from tests.support.seed import SeededBand, seed_resident_with_band

PROXY = "10.0.0.2"
# Routes whose call ends the administrator's session in the walk: asked last.
ENDS_SESSION = {("POST", "/api/logout")}


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    seeded: SeededBand
    administrator: StaffMember
    supervisor: StaffMember
    operator: StaffMember

    def app(self, **settings: object) -> FastAPI:
        context = ConsoleContext(
            self.sessions,
            AlarmFeed(self.sessions),
            run_feed=False,
            settings=ConsoleSettings.model_validate(settings),
            data_key=Fernet(Fernet.generate_key()),
        )
        return create_app(context, clock=self.clock)

    def client(self, address: str = "192.0.2.10", **settings: object) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app(**settings), client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://console.example")


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Centre:
    seeded = await seed_resident_with_band(sessions, clock)
    administrator = await create_staff(sessions, clock, role="administrator")
    supervisor = await create_staff(sessions, clock, role="supervisor", municipality_ids=[seeded.municipality_id])
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=[seeded.municipality_id])
    return Centre(sessions, clock, seeded, administrator, supervisor, operator)


@pytest_asyncio.fixture
async def http(centre: Centre) -> AsyncIterator[httpx.AsyncClient]:
    async with centre.client() as client:
        yield client


def assert_security_headers(response: httpx.Response, what: str) -> None:
    headers = response.headers
    policy = headers.get("content-security-policy", "")
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives.get("script-src") == "'self'", f"{what}: {policy!r}"
    assert directives.get("style-src") == "'self'", f"{what}: {policy!r}"
    assert directives.get("frame-ancestors") == "'none'", f"{what}: {policy!r}"
    assert directives.get("object-src") == "'none'", f"{what}: {policy!r}"
    assert "unsafe" not in policy, f"{what}: {policy!r}"
    assert directives.get("connect-src", "").startswith("'self'"), f"{what}: {policy!r}"
    assert headers.get("x-frame-options") == "DENY", what
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("referrer-policy") in ("no-referrer", "strict-origin-when-cross-origin"), what
    # Plain http here: HSTS would mean nothing, and must not be sent.
    assert "strict-transport-security" not in headers, what
    if not response.request.url.path.startswith("/static/"):
        assert "no-store" in headers.get("cache-control", ""), f"{what}: {headers.get('cache-control')!r}"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.mark.asyncio
async def test_every_route_answers_with_the_security_headers(centre: Centre) -> None:
    app = centre.app()
    # As tests/test_access_matrix.py reads it: the route object the router holds may be wrapped.
    routes = [route for route in app_routes(app) if isinstance(getattr(route, "original_route", route), APIRoute)]
    assert len(routes) > 100, "the walk found too few routes: is the route list read right?"
    asked = 0
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.example") as nobody,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.example") as admin,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.example") as operator,
    ):
        await log_in(admin, centre.administrator)
        await log_in(operator, centre.operator)
        calls = sorted(
            ((method, route.path) for route in routes for method in route.methods if method != "HEAD"),
            key=lambda call: call in ENDS_SESSION,
        )
        statuses: set[int] = set()
        for method, path in calls:
            for who, client in (("nobody", nobody), ("administrator", admin), ("operator", operator)):
                response = await client.request(method, _concrete(path))
                # /readyz says 503 here: the app's workers (lifespan) are not running in this test.
                allowed = response.status_code < 500 or (path == "/readyz" and response.status_code == 503)
                assert allowed, f"{method} {path} as {who}: {response.status_code}"
                assert_security_headers(response, f"{method} {path} as {who} ({response.status_code})")
                statuses.add(response.status_code)
                asked += 1
        for extra in ("/static/console.css", "/static/common.js", "/static/vendor/leaflet/leaflet.js", "/nowhere"):
            response = await nobody.get(extra)
            assert_security_headers(response, f"GET {extra} ({response.status_code})")
        assert_security_headers(await nobody.delete("/healthz"), "DELETE /healthz (405)")
    assert any(isinstance(getattr(r, "original_route", r), Mount) and r.path == "/static" for r in app_routes(app))
    # The walk met the answers it is about, not only one kind.
    assert {200, 401, 403, 404, 422} <= statuses, statuses
    print(f"security headers: {asked} answers over {len(calls)} routes")


@pytest.mark.asyncio
async def test_the_api_and_personal_pages_are_never_stored(centre: Centre, http: httpx.AsyncClient) -> None:
    await log_in(http, centre.supervisor)
    notes = await http.get(f"/api/registry/residents/{centre.seeded.resident_id}/medical-notes")
    assert notes.status_code == 200, notes.text
    assert notes.headers["cache-control"] == "no-store"
    for path in (f"/registry/residents/{centre.seeded.resident_id}", "/api/alarms", "/api/me", "/supervisor"):
        response = await http.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
    # Static files may be cached; they carry nobody's data.
    assert "no-store" not in (await http.get("/static/console.css")).headers.get("cache-control", "")


@pytest.mark.asyncio
async def test_map_pages_send_the_origin_to_the_tile_server_and_the_rest_nothing(
    centre: Centre, http: httpx.AsyncClient
) -> None:
    await log_in(http, centre.supervisor)
    for path in (f"/registry/residents/{centre.seeded.resident_id}", f"/registry/bands/{centre.seeded.band_id}"):
        assert (await http.get(path)).headers["referrer-policy"] == "strict-origin-when-cross-origin", path
    for path in ("/", "/supervisor", "/api/me", "/login"):
        assert (await http.get(path)).headers["referrer-policy"] == "no-referrer", path


def test_the_policy_admits_the_configured_tiles_only() -> None:
    assert tiles_source("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://tile.openstreetmap.org"
    assert tiles_source("https://{s}.tiles.example.pl:8443/{z}/{x}/{y}.png") == "https://*.tiles.example.pl:8443"
    assert tiles_source("https://tiles-{s}.example.pl/{z}/{x}/{y}.png") == "https:"
    assert tiles_source("") is None
    assert "img-src 'self' data:;" in content_security_policy("")
    assert "img-src 'self' data: https://maps.gmina.pl;" in content_security_policy(
        "https://maps.gmina.pl/osm/{z}/{x}/{y}.png"
    )


@pytest.mark.asyncio
async def test_https_through_a_trusted_proxy_gets_hsts_and_a_secure_cookie(centre: Centre) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "alarm.gmina.pl", "X-Forwarded-For": "192.0.2.10"}
    async with centre.client(PROXY, trusted_proxies=["10.0.0.0/24"]) as proxy:
        login = await proxy.post(
            "/api/login",
            json={"username": centre.supervisor.username, "password": centre.supervisor.password},
            headers=forwarded,
        )
        assert login.status_code == 200, login.text
        assert "Secure" in login.headers["set-cookie"]
        assert login.headers["strict-transport-security"] == "max-age=31536000"
        assert "connect-src 'self' wss://alarm.gmina.pl" in login.headers["content-security-policy"]
        # The same proxy forwarding plain http: no HSTS, no Secure.
        plain = await proxy.get("/healthz", headers={"X-Forwarded-Proto": "http"})
        assert "strict-transport-security" not in plain.headers


@pytest.mark.asyncio
async def test_forwarded_headers_from_anyone_else_are_ignored(centre: Centre) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-For": "192.0.2.99"}
    for settings in ({}, {"trusted_proxies": [PROXY]}):
        async with centre.client("203.0.113.5", **settings) as direct:
            login = await direct.post(
                "/api/login",
                json={"username": centre.supervisor.username, "password": centre.supervisor.password},
                headers=forwarded,
            )
            assert login.status_code == 200, login.text
            assert "Secure" not in login.headers["set-cookie"], settings
            assert "strict-transport-security" not in login.headers, settings
            assert "evil.example" not in login.headers["content-security-policy"], settings
    # The setting that makes the cookie Secure whatever the request says still works.
    async with centre.client(secure_cookies=True) as always:
        login = await always.post(
            "/api/login", json={"username": centre.supervisor.username, "password": centre.supervisor.password}
        )
        assert "Secure" in login.headers["set-cookie"]


def test_the_client_is_the_first_untrusted_hop_from_the_right() -> None:
    proxies = parse_networks(["10.0.0.0/8", "127.0.0.1"])
    assert forwarded_client("10.0.0.2", "192.0.2.1", proxies) == "192.0.2.1"
    # A client-made entry in front is not believed; proxies behind proxies are walked through.
    assert forwarded_client("10.0.0.2", "198.51.100.7, 192.0.2.1, 10.0.0.9", proxies) == "192.0.2.1"
    # Garbage ends the walk at the last proxy.
    assert forwarded_client("10.0.0.2", "192.0.2.1, not-an-address", proxies) == "10.0.0.2"
    assert forwarded_client("10.0.0.2", "", proxies) == "10.0.0.2"


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        ConsoleSettings(trusted_proxies=["proxy.local"])
    with pytest.raises(ValueError, match="go together"):
        ConsoleSettings(tls_cert_file="/etc/opaska/cert.pem")
