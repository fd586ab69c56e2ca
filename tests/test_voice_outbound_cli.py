"""`opaska user phone USERNAME NUMBER|--clear`: the phone Twilio rings first for an operator's call."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from registry.model import StaffUser
from simulator.lab.staff import create_staff
from tests.support.processes import run_opaska_command

pytestmark = pytest.mark.asyncio


async def _phone(sessions: async_sessionmaker[AsyncSession], staff_id: int) -> str | None:
    async with sessions() as session:
        staff = await session.get(StaffUser, staff_id)
        assert staff is not None
        return staff.phone


async def test_set_a_number_a_sip_address_and_clear(
    sessions: async_sessionmaker[AsyncSession], database_url: str, clock: FakeClock
) -> None:
    member = await create_staff(sessions, clock, role="administrator", username="anna.k")
    number = await run_opaska_command(database_url, "user", "phone", "anna.k", "601 234 567")
    assert number.returncode == 0, number.stderr
    assert "anna.k: telefon +48601234567" in number.stdout
    assert await _phone(sessions, member.id) == "+48601234567"

    sip = await run_opaska_command(database_url, "user", "phone", "anna.k", "sip:anna@centrala.example.pl")
    assert sip.returncode == 0, sip.stderr
    assert await _phone(sessions, member.id) == "sip:anna@centrala.example.pl"

    cleared = await run_opaska_command(database_url, "user", "phone", "anna.k", "--clear")
    assert cleared.returncode == 0, cleared.stderr
    assert await _phone(sessions, member.id) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["anna.k", "12"], "nieprawidłowy numer"),
        (["anna.k", "sip:no host"], "nieprawidłowy adres SIP"),
        (["anna.k"], "podaj NUMER"),
        (["anna.k", "601234567", "--clear"], "podaj NUMER"),
        (["nobody", "601234567"], "nie ma konta"),
    ],
)
async def test_bad_input_is_one_line_and_changes_nothing(
    sessions: async_sessionmaker[AsyncSession], database_url: str, clock: FakeClock, args: list[str], message: str
) -> None:
    member = await create_staff(sessions, clock, role="administrator", username="anna.k")
    refused = await run_opaska_command(database_url, "user", "phone", *args)
    assert refused.returncode == 2
    # One line of ours (the database's migration log may come before it).
    [said] = [line for line in refused.stderr.splitlines() if line.startswith("opaska:")]
    assert message in said
    assert await _phone(sessions, member.id) is None
