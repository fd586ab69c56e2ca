"""Path traversal: asking the console for a file outside what it serves. The request line is sent
as typed (raw bytes over a socket, to the console under uvicorn, as a browser or curl would reach
it; an HTTP client library would tidy the dots away first): `../`, its encodings (%2e%2e%2f, %2f,
double encoding, overlong UTF-8), absolute paths, a backslash, a NUL byte. Against the static files
(the only route that reads files named by the request) and against the downloads (reports, the
device list, a resident's RODO export), whose parameters end up in a file name. Every answer must
be a 4xx, or the download it names with a safe file name, and none may hold a file from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
import uvicorn
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.context import ConsoleContext
from core.clock import FakeClock
from opaska.console_app import console_app
from simulator.lab.processes import REPO
from simulator.lab.staff import create_staff, log_in
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

# Text of files outside /static that a traversal would reach: any of these in an answer is a leak.
OUTSIDE = {
    "/etc/passwd": "root:x:0:0",
    "console/app.py": "StaticFiles(directory=",
    "pyproject.toml": "[tool.mypy]",
    "console/templates/base.html": "{% block",
}
# console/static is three levels under / ... and one under the repository: ../ enough times reaches both.
UP = "../" * 8
STATIC_ATTEMPTS = [
    "/static/../app.py",
    "/static/../../pyproject.toml",
    f"/static/{UP}etc/passwd",
    "/static/%2e%2e/app.py",
    "/static/%2e%2e%2fapp.py",
    "/static/%2E%2E%2F%2E%2E%2Fpyproject.toml",
    "/static/..%2fapp.py",
    "/static/..%2F..%2Fpyproject.toml",
    "/static/%252e%252e%252fapp.py",
    "/static/%c0%ae%c0%ae/app.py",
    "/static/..%c0%afapp.py",
    "/static/....//app.py",
    "/static/..\\app.py",
    "/static/..%5capp.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2Fetc/passwd",
    "/static/file:///etc/passwd",
    "/static/common.js%00.png",
    "/static/%00../app.py",
    "/static/../templates/base.html",
    f"/static/vendor/leaflet/{UP}etc/passwd",
    f"/{UP}etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/static/./../app.py",
    "/static/.%2e/app.py",
]
# Values a download's parameters might take to name a file somewhere else.
HOSTILE_VALUES = [
    "../../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "/etc/passwd",
    "..\\..\\app.py",
    "x\x00.pdf",
    "%00",
    "....//....//etc/passwd",
    "2026-01/../../../etc/passwd",
]


@dataclass
class Served:
    address: str
    cookie: str
    seeded: SeededBand


@pytest_asyncio.fixture
async def served(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Served]:
    seeded = await seed_resident_with_band(sessions, clock)
    admin = await create_staff(sessions, clock, role="administrator")
    context = ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, data_key=Fernet(Fernet.generate_key()))
    app = console_app(context, emqx_hooks=None, clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            login = await log_in(http, admin)
        yield Served(f"127.0.0.1:{port}", f"opaska_session={login.session_token}", seeded)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


@dataclass(frozen=True)
class Raw:
    status: int
    headers: str
    body: bytes


async def raw_get(address: str, target: str, cookie: str = "") -> Raw:
    """GET `target` exactly as written (no client tidies it), over one connection."""
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n"
        if cookie:
            request += f"Cookie: {cookie}\r\n"
        writer.write(request.encode("latin-1") + b"\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, _, headers = head.decode("latin-1").partition("\r\n")
    return Raw(int(status_line.split()[1]), headers, body)


def _leaked(body: bytes) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    return [name for name, mark in OUTSIDE.items() if mark in text]


def test_the_marks_are_in_the_files_they_stand_for() -> None:
    """Otherwise a leak would go unseen."""
    for name, mark in OUTSIDE.items():
        path = Path(name) if name.startswith("/") else REPO / name
        assert mark in path.read_text(), name


@pytest.mark.asyncio
async def test_no_static_path_reaches_a_file_outside_the_static_directory(served: Served) -> None:
    assert (await raw_get(served.address, "/static/common.js")).status == 200  # the route does serve files
    wrong: list[str] = []
    for target in STATIC_ATTEMPTS:
        for cookie in ("", served.cookie):
            answer = await raw_get(served.address, target, cookie)
            if not 400 <= answer.status < 500 or _leaked(answer.body):
                wrong.append(
                    f"{target} ({'logged in' if cookie else 'anonymous'}): {answer.status} {_leaked(answer.body)}"
                )
    assert wrong == []


@pytest.mark.asyncio
async def test_no_download_parameter_names_a_file_elsewhere(served: Served) -> None:
    resident_id = served.seeded.resident_id
    downloads = [
        ("/api/reports/monthly", ["municipality", "month", "format", "lang"]),
        ("/api/reports/period", ["municipality", "period", "lang"]),
        ("/api/registry/devices/health.csv", ["municipality_id"]),
    ]
    wrong: list[str] = []
    for path, names in downloads:
        for name in names:
            for value in HOSTILE_VALUES:
                # Raw (the encoded forms as typed) and percent-encoded once more, as a form would send it.
                for sent in (value.replace("\x00", "%00"), quote(value, safe="")):
                    answer = await raw_get(served.address, f"{path}?{name}={sent}", served.cookie)
                    disposition = re.search(r"(?im)^content-disposition:.*$", answer.headers)
                    if answer.status >= 500 or _leaked(answer.body):
                        wrong.append(f"{path}?{name}={sent}: {answer.status} {_leaked(answer.body)}")
                    elif answer.status < 400 and disposition and re.search(r"[/\\\x00]|\.\.", disposition.group(0)):
                        wrong.append(f"{path}?{name}={sent}: a file name with a path in it: {disposition.group(0)}")
    # A resident's RODO export, named by an id: nothing but a number opens it.
    for value in HOSTILE_VALUES:
        target = f"/api/registry/residents/{quote(value, safe='')}/export"
        answer = await raw_get(served.address, target, served.cookie)
        if not 400 <= answer.status < 500 or _leaked(answer.body):
            wrong.append(f"{target}: {answer.status} {_leaked(answer.body)}")
    assert (await raw_get(served.address, f"/api/registry/residents/{resident_id}/export", served.cookie)).status == 200
    assert wrong == []
