"""Staff accounts: who may log in to the console, with which role, for which municipalities.

Each function takes the caller's session and does not commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from registry.model import Municipality, StaffMunicipality, StaffRole, StaffSession, StaffUser

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class StaffError(ValueError):
    """Bad staff input; the message names the field."""


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def normalise_username(username: str) -> str:
    return username.strip().lower()


@dataclass(frozen=True)
class StaffAccount:
    id: int
    username: str
    full_name: str
    role: StaffRole
    active: bool
    # None: every municipality (administrators); otherwise the ids the account is assigned to.
    municipality_ids: frozenset[int] | None


async def municipality_ids_by_code(session: AsyncSession, codes: Sequence[str]) -> list[int]:
    found = dict(
        (await session.execute(select(Municipality.code, Municipality.id).where(Municipality.code.in_(codes)))).all()
    )
    missing = [code for code in codes if code not in found]
    if missing:
        raise StaffError(f"municipality: no municipality with code {', '.join(repr(c) for c in missing)}")
    return [found[code] for code in codes]


async def create_staff(
    session: AsyncSession,
    clock: Clock,
    *,
    username: str,
    full_name: str,
    role: str,
    password_hash: str,
    municipality_ids: Sequence[int] = (),
) -> StaffUser:
    username = normalise_username(username)
    if not USERNAME.match(username):
        raise StaffError(
            "username: 2-64 characters: letters a-z, digits, '.', '_' or '-', starting with a letter or digit"
        )
    try:
        staff_role = StaffRole(role)
    except ValueError:
        raise StaffError(f"role: one of {', '.join(r.value for r in StaffRole)} (got {role!r})") from None
    if not full_name.strip():
        raise StaffError("name: the person's full name is needed")
    if staff_role != StaffRole.ADMINISTRATOR and not municipality_ids:
        raise StaffError(
            f"municipality: {_article(staff_role.value)} {staff_role.value} needs at least one municipality "
            "(administrators see all)"
        )
    if await find_by_username(session, username) is not None:
        raise StaffError(f"username: {username!r} is taken")
    staff = StaffUser(
        username=username,
        full_name=full_name.strip(),
        role=staff_role,
        password_hash=password_hash,
        active=True,
        created_at=clock.now(),
    )
    session.add(staff)
    await session.flush()
    for municipality_id in dict.fromkeys(municipality_ids):
        session.add(StaffMunicipality(staff_id=staff.id, municipality_id=municipality_id))
    await session.flush()
    return staff


async def find_by_username(session: AsyncSession, username: str) -> StaffUser | None:
    return (
        await session.execute(select(StaffUser).where(StaffUser.username == normalise_username(username)))
    ).scalar_one_or_none()


async def set_password_hash(session: AsyncSession, *, staff_id: int, password_hash: str) -> None:
    staff = await session.get(StaffUser, staff_id)
    if staff is None:
        raise StaffError(f"no staff member {staff_id}")
    staff.password_hash = password_hash
    await session.flush()


async def municipalities_of(session: AsyncSession, staff_id: int) -> frozenset[int]:
    rows = await session.execute(
        select(StaffMunicipality.municipality_id).where(StaffMunicipality.staff_id == staff_id)
    )
    return frozenset(rows.scalars())


async def account(session: AsyncSession, staff: StaffUser) -> StaffAccount:
    role = StaffRole(staff.role)
    scope = None if role == StaffRole.ADMINISTRATOR else await municipalities_of(session, staff.id)
    return StaffAccount(staff.id, staff.username, staff.full_name, role, staff.active, scope)


async def all_accounts(session: AsyncSession) -> list[tuple[StaffUser, list[str]]]:
    """Every account with the codes of its municipalities, by username."""
    staff = (await session.execute(select(StaffUser).order_by(StaffUser.username))).scalars().all()
    codes: dict[int, list[str]] = {}
    rows = await session.execute(
        select(StaffMunicipality.staff_id, Municipality.code)
        .join(Municipality, Municipality.id == StaffMunicipality.municipality_id)
        .order_by(Municipality.code)
    )
    for staff_id, code in rows:
        codes.setdefault(staff_id, []).append(code)
    return [(member, codes.get(member.id, [])) for member in staff]


async def remove_sessions(session: AsyncSession, *, staff_id: int) -> None:
    """Log the person out everywhere (after a password change)."""
    await session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
