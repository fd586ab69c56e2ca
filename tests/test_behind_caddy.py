"""The console behind a real Caddy (as docs/deployment.md and config/caddy/Caddyfile set it up):
https at Caddy, plain http from Caddy to the console, and the console believing Caddy's
X-Forwarded-* because Caddy's address is in `[console] trusted_proxies`.

Over Caddy: HSTS and a Secure session cookie; the address a client claims in its own
X-Forwarded-For is not the one audited (Caddy replaces it); the live WebSocket opens from the
console's own page (Origin https://…) through the proxy. Skipped where Caddy is not installed
(`apt install caddy`)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.typing import Origin

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.auth.sessions import COOKIE
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import ConsoleSettings
from simulator.lab.ports import free_port
from simulator.lab.staff import create_staff
from tests.support.require import need_program

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]


def caddyfile(directory: Path, https_port: int, console_port: int) -> Path:
    """config/caddy/Caddyfile's proxying, on local ports, with Caddy's own CA for localhost, no
    admin endpoint and nothing written outside `directory`."""
    path = directory / "Caddyfile"
    path.write_text(
        f"""{{
	admin off
	skip_install_trust
	local_certs
	auto_https disable_redirects
	storage file_system {directory / "caddy-data"}
}}

https://localhost:{https_port} {{
	reverse_proxy 127.0.0.1:{console_port}
}}
"""
    )
    return path


@contextlib.contextmanager
def caddy(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [need_program("caddy"), "run", "--config", str(config), "--adapter", "caddyfile"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.asynccontextmanager
async def console(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, port: int) -> AsyncIterator[None]:
    context = ConsoleContext(
        sessions,
        AlarmFeed(sessions),
        settings=ConsoleSettings(trusted_proxies=["127.0.0.1", "::1"]),
        data_key=Fernet(Fernet.generate_key()),
    )
    # As opaska/platform.py serves it: X-Forwarded-* read by the console's own rule only.
    config = uvicorn.Config(
        create_app(context, clock=clock), host="127.0.0.1", port=port, log_level="warning", proxy_headers=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def _until_served(client: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(200):
        assert process.poll() is None, f"caddy stopped: {log.read_text()}"
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"caddy did not serve the console: {log.read_text()}")


def _caddy_root(directory: Path) -> Path:
    return directory / "caddy-data" / "pki" / "authorities" / "local" / "root.crt"


async def test_behind_caddy_the_console_knows_https_and_the_real_client(
    tmp_path: Path, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    need_program("caddy")
    supervisor = await create_staff(sessions, clock, role="administrator")
    https_port, console_port = free_port(), free_port()
    log = tmp_path / "caddy.log"
    with caddy(caddyfile(tmp_path, https_port, console_port), log) as process:
        async with console(sessions, clock, console_port):
            base = f"https://localhost:{https_port}"
            # Caddy's local CA appears once it has issued the site's certificate.
            async with httpx.AsyncClient(base_url=base, verify=False) as first:  # noqa: S501 - waiting for the CA
                await _until_served(first, process, log)
            verify = ssl.create_default_context(cafile=str(_caddy_root(tmp_path)))
            async with httpx.AsyncClient(base_url=base, verify=verify) as http:
                health = await http.get("/healthz")
                assert health.headers["strict-transport-security"] == "max-age=31536000"
                # A client's own X-Forwarded-For is replaced by Caddy: the failure is the real address's.
                wrong = await http.post(
                    "/api/login",
                    json={"username": "nobody-here", "password": "guess"},
                    headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"},
                )
                assert wrong.status_code == 401
                login = await http.post(
                    "/api/login", json={"username": supervisor.username, "password": supervisor.password}
                )
                assert login.status_code == 200, login.text
                assert "Secure" in login.headers["set-cookie"]
                http.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                audit = (await http.get("/api/login-failures")).json()
                assert [f["client_ip"] for f in audit["failures"]] == ["127.0.0.1"]

                # The live feed through the proxy, from the console's own origin.
                token = login.cookies[COOKIE]
                async with websockets.connect(
                    f"wss://localhost:{https_port}/ws/live",
                    ssl=verify,
                    origin=Origin(base),
                    additional_headers={"Cookie": f"{COOKIE}={token}"},
                ) as live:
                    assert await asyncio.wait_for(live.recv(), timeout=10)
