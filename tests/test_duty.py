"""The duty roster: who is supervisor and who is on call at any hour, per municipality, and its CLI."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from registry import service
from registry.duty import DutyError, DutyRole, Shift, add_shift, on_duty
from simulator.lab.staff import create_staff
from tests.support.processes import run_opaska_command

pytestmark = pytest.mark.asyncio

WARSAW = ZoneInfo("Europe/Warsaw")
NIGHT_START = datetime(2026, 11, 23, 20, 0, tzinfo=WARSAW)
NIGHT_END = datetime(2026, 11, 24, 8, 0, tzinfo=WARSAW)


async def _municipality(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, code: str | None = None) -> int:
    async with sessions() as session, session.begin():
        municipality = await service.create_municipality(
            session, clock, code=code or f"m-{uuid.uuid4().hex[:6]}", name="Gmina Testowa"
        )
        return municipality.id


async def _shift(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    *,
    role: DutyRole = DutyRole.SUPERVISOR,
    name: str = "Anna Nowak",
    phone: str = "601 234 567",
    starts_at: datetime = NIGHT_START,
    ends_at: datetime = NIGHT_END,
    municipality_id: int | None = None,
    staff_id: int | None = None,
) -> int:
    async with sessions() as session, session.begin():
        shift = await add_shift(
            session,
            role=role,
            name=name,
            phone=phone,
            starts_at=starts_at,
            ends_at=ends_at,
            created_at=clock.now(),
            municipality_id=municipality_id,
            staff_id=staff_id,
        )
        return shift.id


async def _on_duty(
    sessions: async_sessionmaker[AsyncSession], role: DutyRole, at: datetime, municipality_id: int | None = None
) -> list[str]:
    async with sessions() as session:
        return [shift.name for shift in await on_duty(session, role, at, municipality_id)]


async def test_who_is_on_duty_at_any_hour(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    await _shift(sessions, clock, name="Anna Nowak")
    await _shift(sessions, clock, name="Piotr Wiśniewski", starts_at=NIGHT_END, ends_at=NIGHT_END + timedelta(hours=12))
    await _shift(sessions, clock, role=DutyRole.RESPONDER, name="Ewa Zielińska", phone="+48 602 345 678")

    assert await _on_duty(sessions, DutyRole.SUPERVISOR, NIGHT_START - timedelta(minutes=1)) == []
    # The start counts, the end does not: at 08:00 the day shift has taken over.
    assert await _on_duty(sessions, DutyRole.SUPERVISOR, NIGHT_START) == ["Anna Nowak"]
    assert await _on_duty(sessions, DutyRole.SUPERVISOR, datetime(2026, 11, 24, 3, 0, tzinfo=UTC)) == ["Anna Nowak"]
    assert await _on_duty(sessions, DutyRole.SUPERVISOR, NIGHT_END) == ["Piotr Wiśniewski"]
    assert await _on_duty(sessions, DutyRole.RESPONDER, NIGHT_START + timedelta(hours=1)) == ["Ewa Zielińska"]
    assert await _on_duty(sessions, DutyRole.RESPONDER, NIGHT_END) == []

    async with sessions() as session:
        stored = (await session.execute(select(Shift).where(Shift.name == "Ewa Zielińska"))).scalar_one()
    # Stored in UTC (20:00 in Warsaw in November is 19:00 UTC), the phone as E.164.
    assert stored.starts_at == datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
    assert stored.phone == "+48602345678"


async def test_a_municipalitys_own_shifts_come_first(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    wroclaw, olawa = await _municipality(sessions, clock), await _municipality(sessions, clock)
    await _shift(sessions, clock, name="Centre-wide")
    await _shift(sessions, clock, name="Wrocław's own", municipality_id=wroclaw)
    await _shift(sessions, clock, name="Oława's own", municipality_id=olawa)
    at = NIGHT_START + timedelta(hours=2)

    assert await _on_duty(sessions, DutyRole.SUPERVISOR, at, wroclaw) == ["Wrocław's own", "Centre-wide"]
    assert await _on_duty(sessions, DutyRole.SUPERVISOR, at, olawa) == ["Oława's own", "Centre-wide"]
    assert await _on_duty(sessions, DutyRole.SUPERVISOR, at, await _municipality(sessions, clock)) == ["Centre-wide"]
    assert await _on_duty(sessions, DutyRole.SUPERVISOR, at) == ["Centre-wide"]


async def test_overlapping_shifts_the_one_who_took_over_last_first(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _shift(sessions, clock, name="Night")
    # A handover half an hour early: both are on duty, the newcomer first.
    await _shift(
        sessions,
        clock,
        name="Day",
        starts_at=NIGHT_END - timedelta(minutes=30),
        ends_at=NIGHT_END + timedelta(hours=12),
    )
    assert await _on_duty(sessions, DutyRole.SUPERVISOR, NIGHT_END - timedelta(minutes=10)) == ["Day", "Night"]


async def test_a_shift_may_name_the_staff_user(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    municipality_id = await _municipality(sessions, clock)
    supervisor = await create_staff(
        sessions, clock, role="supervisor", full_name="Anna Nowak", municipality_ids=[municipality_id]
    )
    staff_id = supervisor.id
    await _shift(sessions, clock, staff_id=staff_id)
    async with sessions() as session:
        [shift] = await on_duty(session, DutyRole.SUPERVISOR, NIGHT_START)
    assert shift.staff_id == staff_id


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"role": "janitor"}, "role: one of supervisor, responder (got 'janitor')"),
        ({"name": "  "}, "name: empty"),
        ({"phone": "12"}, "phone: not a valid phone number: '12'"),
        ({"phone": "call me"}, "phone: not a phone number: 'call me'"),
        ({"ends_at": NIGHT_START}, "to: must be after from"),
        ({"starts_at": datetime(2026, 11, 23, 20, 0)}, "from/to: a time without a timezone"),
        ({"staff_id": 999_999}, "staff: no staff user 999999"),
        ({"municipality_id": 999_999}, "municipality: no municipality 999999"),
    ],
)
async def test_bad_shifts_are_refused_with_the_field_named(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, changes: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {
        "role": "supervisor",
        "name": "Anna Nowak",
        "phone": "601234567",
        "starts_at": NIGHT_START,
        "ends_at": NIGHT_END,
        "created_at": clock.now(),
    }
    async with sessions() as session, session.begin():
        with pytest.raises(DutyError) as refused:
            await add_shift(session, **{**values, **changes})  # type: ignore[arg-type]
    assert str(refused.value) == message


async def test_the_roster_from_the_command_line(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, database_url: str
) -> None:
    code = f"02{uuid.uuid4().hex[:5]}"
    municipality_id = await _municipality(sessions, clock, code)
    night = ("--from", "2026-11-23T20:00", "--to", "2026-11-24T08:00")
    added = await run_opaska_command(
        database_url, "duty", "add", "--role", "supervisor", "--name", "Anna Nowak", "--phone", "601 234 567", *night
    )
    assert added.returncode == 0, added.stderr
    assert "supervisor" in added.stdout
    assert "2026-11-23 20:00 CET - 2026-11-24 08:00 CET, wszystkie gminy" in added.stdout
    # An offset is taken as given: 19:00 UTC is 20:00 in Warsaw.
    responder = await run_opaska_command(
        database_url,
        "duty",
        "add",
        "--role",
        "responder",
        "--name",
        "Ewa Zielińska",
        "--phone",
        "+48602345678",
        "--from",
        "2026-11-23T19:00+00:00",
        "--to",
        "2026-11-24T07:00Z",
        "--municipality",
        code,
    )
    assert responder.returncode == 0, responder.stderr

    async with sessions() as session:
        assert [s.name for s in await on_duty(session, DutyRole.SUPERVISOR, NIGHT_START, municipality_id)] == [
            "Anna Nowak"
        ]
        [shift] = await on_duty(session, DutyRole.RESPONDER, NIGHT_START, municipality_id)
    assert (shift.starts_at, shift.phone, shift.municipality_id) == (
        datetime(2026, 11, 23, 19, 0, tzinfo=UTC),
        "+48602345678",
        municipality_id,
    )

    at_night = await run_opaska_command(database_url, "duty", "list", "--at", "2026-11-24T02:00")
    assert at_night.returncode == 0, at_night.stderr
    lines = at_night.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("responder")
    assert f"gmina {code}" in lines[0]
    assert lines[1].startswith("supervisor")
    assert "Anna Nowak +48601234567" in lines[1]
    in_the_day = await run_opaska_command(database_url, "duty", "list", "--at", "2026-11-24T12:00")
    assert in_the_day.stdout.strip() == "wtedy nikt nie ma dyżuru"


async def test_the_list_without_a_time_shows_every_shift_not_yet_over(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, database_url: str
) -> None:
    # `duty list` reads the wall clock: shifts around the real now.
    now = datetime.now(UTC).replace(microsecond=0)
    await _shift(sessions, clock, name="Over", starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=1))
    await _shift(sessions, clock, name="On now", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))
    await _shift(sessions, clock, name="Next", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=3))
    listed = await run_opaska_command(database_url, "duty", "list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split(" +48")[0].split(maxsplit=1)[1] for line in listed.stdout.strip().splitlines()]
    assert names == ["On now", "Next"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "janitor"), "opaska: role: one of supervisor, responder (got 'janitor')"),
        (("--phone", "123"), "opaska: phone: not a valid phone number: '123'"),
        (("--from", "tonight"), "opaska: --from: not a time like 2026-11-23T20:00 (got 'tonight')"),
        (("--to", "2026-11-23T19:00"), "opaska: to: must be after from"),
        (("--municipality", "nowhere"), "opaska: --municipality: no municipality with code 'nowhere'"),
    ],
)
async def test_bad_roster_input_is_one_clear_line(database_url: str, args: tuple[str, ...], message: str) -> None:
    values = {
        "--role": "supervisor",
        "--name": "Anna Nowak",
        "--phone": "601234567",
        "--from": "2026-11-23T20:00",
        "--to": "2026-11-24T08:00",
    }
    values.update(dict(zip(args[::2], args[1::2], strict=True)))
    # In English: the roster words its own refusals (role, phone, to) in English.
    given = [part for item in values.items() for part in item]
    result = await run_opaska_command(database_url, "--lang", "en", "duty", "add", *given)
    assert result.returncode == 2
    # (Lines before it are the database check's log, as for every command.)
    assert result.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
