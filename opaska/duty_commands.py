"""`opaska duty …`: the duty roster from the command line (who is supervisor or on call, and when)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import SystemClock
from core.settings import Settings
from opaska.cli_json import print_json
from opaska.cli_time import CENTRE_ZONE, local
from opaska.exits import BadInput
from opaska.messages import say
from opaska.registry_cli import reading, transaction
from registry import duty
from registry.model import Municipality

# The centre's local time: what people on a roster mean by "20:00".
LOCAL = CENTRE_ZONE  # a time given without a zone is the centre's


def parse_time(option: str, value: str) -> datetime:
    """An ISO time; without an offset it is Europe/Warsaw time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(say("duty.bad_time", option=option, value=value)) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=LOCAL)


async def _municipality_id(session: AsyncSession, code: str) -> int:
    found = (await session.execute(select(Municipality.id).where(Municipality.code == code))).scalar_one_or_none()
    if found is None:
        raise BadInput(say("municipality.unknown", code=code))
    return found


async def add(
    settings: Settings,
    *,
    role: str,
    name: str,
    phone: str,
    starts: str,
    ends: str,
    municipality: str | None,
    staff_id: int | None,
) -> int:
    starts_at, ends_at = parse_time("--from", starts), parse_time("--to", ends)
    async with transaction(settings) as session:
        municipality_id = await _municipality_id(session, municipality) if municipality else None
        try:
            shift = await duty.add_shift(
                session,
                role=role,
                name=name,
                phone=phone,
                starts_at=starts_at,
                ends_at=ends_at,
                created_at=SystemClock().now(),
                staff_id=staff_id,
                municipality_id=municipality_id,
            )
        except duty.DutyError as exc:
            raise BadInput(str(exc)) from None  # worded by the roster, in English
        print(say("duty.add.done", id=shift.id, line=_line(shift, municipality)))
    return 0


async def list_shifts(settings: Settings, *, at: str | None, as_json: bool = False) -> int:
    """At a time: who is on duty then. Without: every shift not yet over."""
    moment = parse_time("--at", at) if at else None
    async with reading(settings) as session:
        if moment is None:
            shifts = await duty.upcoming(session, SystemClock().now())
        else:
            shifts = await duty.shifts_at(session, moment)
        codes = {key: code for key, code in await session.execute(select(Municipality.id, Municipality.code))}
    if as_json:
        print_json(
            [
                {
                    "id": shift.id,
                    "role": shift.role,
                    "name": shift.name,
                    "phone": shift.phone,
                    "starts_at": shift.starts_at.isoformat(),
                    "ends_at": shift.ends_at.isoformat(),
                    "municipality": codes.get(shift.municipality_id) if shift.municipality_id else None,
                }
                for shift in shifts
            ]
        )
        return 0
    for shift in shifts:
        print(_line(shift, codes.get(shift.municipality_id) if shift.municipality_id else None))
    if not shifts:
        print(say("duty.list.nobody" if moment else "duty.list.none"))
    return 0


def _line(shift: duty.Shift, municipality_code: str | None) -> str:
    where = say("duty.one_municipality", code=municipality_code) if municipality_code else say("all_municipalities")
    return f"{shift.role:<10} {shift.name} {shift.phone} {local(shift.starts_at)} - {local(shift.ends_at)}, {where}"
