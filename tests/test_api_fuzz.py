"""Hostile input to the console's API: schemathesis generates requests for every operation in the
OpenAPI document (valid and invalid bodies, odd path and query values) and sends them, logged in as
an administrator, to the console running as a real process. No answer may be a 5xx. Oversized
bodies are refused before they are read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import requests
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from simulator.lab.processes import opaska_env, wait_healthy
from simulator.lab.staff import create_staff, log_in
from tests.support.processes import opaska_process
from tests.support.require import free_port
from tests.support.seed import seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(600)]

# Ending the session or burning the login rate limit would turn every later case into a 401 or 429.
NOT_FUZZED = {("POST", "/api/logout"), ("POST", "/api/login")}
EXAMPLES_PER_OPERATION = 25


@dataclass(frozen=True)
class Console:
    base: str
    headers: dict[str, str]


@pytest_asyncio.fixture
async def console(
    sessions: async_sessionmaker[AsyncSession], database_url: str, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Console]:
    await seed_resident_with_band(sessions, clock)
    admin = await create_staff(sessions, clock, role="administrator")
    port = free_port()
    data_key = Fernet.generate_key().decode()
    env = opaska_env(OPASKA_DATABASE_URL=database_url, OPASKA_CONSOLE_PORT=str(port), OPASKA_CONSOLE_DATA_KEY=data_key)
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "console.log"
    with opaska_process(["console"], env, log_path) as process:
        await wait_healthy(base, process, log_path)
        async with httpx.AsyncClient(base_url=base) as http:
            login = await log_in(http, admin)
        headers = {**login.cookie_header, "X-CSRF-Token": login.csrf_token}
        yield Console(base, headers)


@dataclass
class Fuzzed:
    operations: int = 0
    calls: int = 0
    # The 5xx answers found, as 'METHOD path -> status: body'.
    failures: list[str] = field(default_factory=list)


def fuzz_operations(console: Console) -> Fuzzed:
    """Every operation, many cases each."""
    schema = schemathesis.openapi.from_url(f"{console.base}/openapi.json")
    fuzzed = Fuzzed()
    http = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        fuzzed.operations += 1

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(base_url=console.base, headers=console.headers, session=http, timeout=30)
            fuzzed.calls += 1
            if response.status_code >= 500:
                found = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                fuzzed.failures.append(found)

        no_server_error()
    return fuzzed


async def test_no_request_to_the_api_is_answered_with_a_server_error(console: Console) -> None:
    fuzzed = await asyncio.to_thread(fuzz_operations, console)
    assert fuzzed.failures == []
    assert fuzzed.operations >= 15  # the document really lists the API
    assert fuzzed.calls >= 5 * fuzzed.operations


async def test_an_oversized_body_is_refused_before_it_is_read(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.base, headers=console.headers) as http:
        huge = b'{"note": "' + b"x" * (3 * 1024 * 1024) + b'"}'
        answer = await http.post("/api/alarms/1/notes", content=huge, headers={"Content-Type": "application/json"})
        assert answer.status_code == 413
