"""`opaska simulate --band … --broker URL` sends the band to the broker named, not the configured one
(issue 16: its serial and secret went to the default broker instead)."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway.topics import TopicScheme
from tests.conftest import embedded_test_broker
from tests.support.gateway import running_gateway
from tests.support.processes import run_opaska_command
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


async def test_simulate_press_goes_to_the_broker_named(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, database_url: str
) -> None:
    topics = TopicScheme("opaska/v1")  # the default root, which the command uses
    band = await seed_resident_with_band(sessions, clock)
    async with (
        embedded_test_broker(sessions, topics) as service,
        running_gateway(
            endpoint=service,
            topics=topics,
            sessions=sessions,
            clock=clock,
            client_prefix=f"t{uuid.uuid4().hex[:8]}",
            protocol="3.1.1",
        ),
    ):
        band_url = str(replace(service, username=None, password=None))
        result = await run_opaska_command(
            database_url,
            "simulate",
            "--band",
            f"{band.serial}:{band.secret}",
            "--press",
            "sos",
            "--timeout",
            "15",
            "--broker",
            band_url,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"connected to {band_url}" in result.stdout
    assert f"{band.serial}: sos received by the platform, alarm " in result.stdout
