"""Console staff for tests: an account in the test database, and a client logged in as it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from console.auth.sessions import COOKIE, CSRF_HEADER
from core.clock import Clock
from registry import staff
from registry.staff_passwords import hash_password

PASSWORD = "correct horse battery"
# One hash for every test account: argon2 takes its time on purpose.
_PASSWORD_HASH = hash_password(PASSWORD)


@dataclass(frozen=True)
class StaffMember:
    id: int
    username: str
    full_name: str
    role: str
    password: str = PASSWORD


async def create_staff(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    role: str = "operator",
    municipality_ids: Sequence[int] = (),
    full_name: str | None = None,
    username: str | None = None,
) -> StaffMember:
    username = username or f"{role[:3]}-{uuid.uuid4().hex[:8]}"
    full_name = full_name or f"{role.title()} {username[-4:]}"
    async with sessions() as session, session.begin():
        member = await staff.create_staff(
            session,
            clock,
            username=username,
            full_name=full_name,
            role=role,
            password_hash=_PASSWORD_HASH,
            municipality_ids=municipality_ids,
        )
        return StaffMember(member.id, member.username, member.full_name, role)


@dataclass(frozen=True)
class Login:
    session_token: str
    csrf_token: str

    @property
    def cookie_header(self) -> dict[str, str]:
        """For a WebSocket handshake (websockets' additional_headers, aiohttp's headers)."""
        return {"Cookie": f"{COOKIE}={self.session_token}"}


async def log_in(http: httpx.AsyncClient, member: StaffMember) -> Login:
    """Log `http` in as `member`: its cookie jar holds the session, its default headers the CSRF token."""
    response = await http.post("/api/login", json={"username": member.username, "password": member.password})
    assert response.status_code == 200, response.text
    token = response.cookies.get(COOKIE)
    assert token, "the login set no session cookie"
    csrf = response.json()["csrf_token"]
    http.headers[CSRF_HEADER] = csrf
    return Login(token, csrf)
