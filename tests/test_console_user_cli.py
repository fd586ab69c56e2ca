"""`opaska user create|list|passwd`: the first administrator is made on the command line."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from registry.model import Municipality, StaffSession, StaffUser
from registry.staff_passwords import verify_password
from tests.support.processes import run_opaska_command
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


async def opaska(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # In English: the staff registry words its refusals in English (the default, Polish, is
    # tested in tests/test_cli_language.py).
    return await run_opaska_command(database_url, "--lang", "en", *args, stdin=stdin)


async def test_create_list_and_change_a_password(
    sessions: async_sessionmaker[AsyncSession], database_url: str, clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    async with sessions() as session:
        municipality = await session.get(Municipality, seeded.municipality_id)
        assert municipality is not None
        code = municipality.code

    made = await opaska(
        database_url,
        "user", "create", "Admin", "--role", "administrator", "--name", "Ada Admin", "--password-stdin",
        stdin="first password 1\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "admin (administrator, Ada Admin), all municipalities" in made.stdout
    assert "first password" not in made.stdout + made.stderr

    operator = await opaska(
        database_url,
        "user", "create", "ola", "--role", "operator", "--name", "Ola Operator", "--municipality", code,
        "--password-stdin",
        stdin="operator password\n",
    )  # fmt: skip
    assert operator.returncode == 0, operator.stderr

    listed = await opaska(database_url, "user", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any("admin" in line and "all municipalities" in line for line in lines)
    assert any("ola" in line and "operator" in line and code in line for line in lines)

    async with sessions() as session, session.begin():
        admin = (await session.execute(select(StaffUser).where(StaffUser.username == "admin"))).scalar_one()
        assert verify_password(admin.password_hash, "first password 1")
        session.add(
            StaffSession(
                token_hash="0" * 64,
                staff_id=admin.id,
                csrf_token="x",
                created_at=clock.now(),
                last_seen_at=clock.now(),
                expires_at=clock.now(),
            )
        )

    changed = await opaska(database_url, "user", "passwd", "admin", "--password-stdin", stdin="second password 2\n")
    assert changed.returncode == 0, changed.stderr
    async with sessions() as session:
        admin = (await session.execute(select(StaffUser).where(StaffUser.username == "admin"))).scalar_one()
        assert verify_password(admin.password_hash, "second password 2")
        assert not verify_password(admin.password_hash, "first password 1")
        assert (await session.execute(select(StaffSession))).first() is None  # logged out everywhere


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--role", "operator", "--name", "Ola"], "long enough pw", "an operator needs at least one municipality"),
        (["--role", "operator", "--name", "Ola", "--municipality", "nope"], "long enough pw", "no municipality"),
        (["--role", "administrator", "--name", "Ola"], "short", "at least 10 characters"),
        (["--role", "administrator", "--name", " "], "long enough pw", "full name"),
    ],
)
async def test_bad_input_is_one_line_and_exit_2(database_url: str, args: list[str], stdin: str, message: str) -> None:
    result = await opaska(database_url, "user", "create", "ola", *args, "--password-stdin", stdin=stdin + "\n")
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("opaska: ")


async def test_a_taken_username_is_refused(database_url: str) -> None:
    args = ["user", "create", "ada", "--role", "administrator", "--name", "Ada", "--password-stdin"]
    assert (await opaska(database_url, *args, stdin="long enough pw\n")).returncode == 0
    again = await opaska(database_url, *args, stdin="long enough pw\n")
    assert again.returncode == 2
    assert "'ada' is taken" in again.stderr
    assert (await opaska(database_url, "user", "passwd", "nobody", "--password-stdin", stdin="x" * 12)).returncode == 2
