"""Staff's second factor: enrolment, checking a code at login (once), recovery codes, turning it
off and an administrator's reset, each change audited (`staff_security_event`).

The TOTP secret is stored encrypted under the console's data key (Fernet, as key-safe codes); it
leaves this module only at enrolment, to be shown to its owner. Recovery codes are shown once and
kept as SHA-256. Each function takes the caller's session and does not commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry import totp
from registry.model import StaffRole
from registry.second_factor_model import (
    SecondFactorChange,
    StaffRecoveryCode,
    StaffSecondFactor,
    StaffSecurityEvent,
)

RECOVERY_CODES = 10
# 16 characters of base32 (80 bits), shown in groups of four: xxxx-xxxx-xxxx-xxxx.
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_RECOVERY_LENGTH = 16
ISSUER = "opaska"


class SecondFactorError(ValueError):
    """A step that cannot be taken now; the message says why."""


class EnrolmentNotBegun(SecondFactorError):
    """A code to confirm an enrolment that was never begun (or is already done)."""


class SecondFactorUnavailable(Exception):
    """No data key, or the secret was encrypted under another one."""


@dataclass(frozen=True)
class SecondFactorStatus:
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


@dataclass(frozen=True)
class Enrolment:
    """What the person copies into their authenticator app (shown during enrolment only)."""

    secret: str
    otpauth_uri: str


def required_for(role: StaffRole | str, required_roles: frozenset[str]) -> bool:
    """Whether the centre's policy ([console] require_2fa_for) requires a second factor of this role."""
    return str(role) in required_roles


def may_enrol(role: StaffRole | str, required_roles: frozenset[str]) -> bool:
    """Supervisors and administrators may turn it on; any other role the policy requires it of."""
    return str(role) in {StaffRole.SUPERVISOR.value, StaffRole.ADMINISTRATOR.value} or required_for(
        role, required_roles
    )


def _encrypt(data_key: Fernet | None, secret: str) -> str:
    if data_key is None:
        raise SecondFactorUnavailable("no data key: set OPASKA_CONSOLE_DATA_KEY to use a second factor")
    return data_key.encrypt(secret.encode()).decode("ascii")


def _decrypt(data_key: Fernet | None, stored: str) -> str:
    if data_key is None:
        raise SecondFactorUnavailable("no data key: set OPASKA_CONSOLE_DATA_KEY to use a second factor")
    try:
        return data_key.decrypt(stored.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise SecondFactorUnavailable(
            "the second factor's secret was encrypted under another data key (OPASKA_CONSOLE_DATA_KEY changed?)"
        ) from None


def recovery_code_hash(code: str) -> str:
    return hashlib.sha256(normalise_recovery_code(code).encode()).hexdigest()


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4))


def looks_like_totp(code: str) -> bool:
    cleaned = code.replace(" ", "")
    return len(cleaned) == totp.DIGITS and cleaned.isascii() and cleaned.isdigit()


async def _record(
    session: AsyncSession,
    *,
    staff_id: int,
    actor_id: int | None,
    what: SecondFactorChange,
    at: datetime,
    client_ip: str | None,
) -> None:
    session.add(
        StaffSecurityEvent(
            staff_id=staff_id,
            actor_id=actor_id,
            at=at,
            what=what.value,
            client_ip=None if client_ip is None else client_ip[:64],
        )
    )
    await session.flush()


async def status(session: AsyncSession, *, staff_id: int) -> SecondFactorStatus:
    factor = await session.get(StaffSecondFactor, staff_id)
    if factor is None or factor.confirmed_at is None:
        return SecondFactorStatus(False, None, 0)
    left = (
        await session.execute(
            select(func.count(StaffRecoveryCode.id)).where(
                StaffRecoveryCode.staff_id == staff_id, StaffRecoveryCode.used_at.is_(None)
            )
        )
    ).scalar_one()
    return SecondFactorStatus(True, factor.confirmed_at, int(left))


async def is_enabled(session: AsyncSession, *, staff_id: int) -> bool:
    confirmed = (
        await session.execute(select(StaffSecondFactor.confirmed_at).where(StaffSecondFactor.staff_id == staff_id))
    ).scalar_one_or_none()
    return confirmed is not None


async def begin_enrolment(
    session: AsyncSession, data_key: Fernet | None, *, staff_id: int, username: str, now: datetime
) -> Enrolment:
    """A new secret, not yet in force: it is once a code from it is typed (`confirm_enrolment`).
    Beginning again replaces an unfinished enrolment's secret; an enabled factor is turned off first."""
    factor = await session.get(StaffSecondFactor, staff_id)
    if factor is not None and factor.confirmed_at is not None:
        raise SecondFactorError("the second factor is already on: turn it off first to enrol a new phone")
    secret = totp.new_secret()
    encrypted = _encrypt(data_key, secret)
    if factor is None:
        session.add(StaffSecondFactor(staff_id=staff_id, secret_encrypted=encrypted, created_at=now))
    else:
        factor.secret_encrypted = encrypted
        factor.created_at = now
        factor.last_step = None
    await session.flush()
    return Enrolment(secret, totp.otpauth_uri(secret, account=username, issuer=ISSUER))


async def confirm_enrolment(
    session: AsyncSession,
    data_key: Fernet | None,
    *,
    staff_id: int,
    code: str,
    now: datetime,
    client_ip: str | None,
) -> list[str]:
    """Put the begun enrolment in force if `code` is right (the code is then used up), and return
    fresh recovery codes: the only time they are ever shown. SecondFactorError if not."""
    factor = await session.get(StaffSecondFactor, staff_id)
    if factor is None or factor.confirmed_at is not None:
        raise EnrolmentNotBegun("no enrolment begun: begin it first")
    step = totp.matching_step(_decrypt(data_key, factor.secret_encrypted), code.replace(" ", ""), now.timestamp())
    if step is None:
        raise SecondFactorError("wrong code: type the code the app shows now")
    factor.confirmed_at = now
    factor.last_step = step
    await session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(StaffRecoveryCode(staff_id=staff_id, code_hash=recovery_code_hash(c)) for c in codes)
    await _record(
        session, staff_id=staff_id, actor_id=staff_id, what=SecondFactorChange.ENROLLED, at=now, client_ip=client_ip
    )
    return codes


async def check_code(
    session: AsyncSession,
    data_key: Fernet | None,
    *,
    staff_id: int,
    code: str,
    now: datetime,
    client_ip: str | None,
) -> bool:
    """Whether `code` is a right code of the person's enabled second factor, using it up: a TOTP
    code of now, the step before or after, newer than the last one accepted; or an unused
    recovery code (its use audited). Both are claimed by one conditional UPDATE, so two requests
    with the same code cannot both pass."""
    cleaned = code.strip()
    if looks_like_totp(cleaned):
        factor = await session.get(StaffSecondFactor, staff_id)
        if factor is None or factor.confirmed_at is None:
            return False
        step = totp.matching_step(
            _decrypt(data_key, factor.secret_encrypted), cleaned.replace(" ", ""), now.timestamp()
        )
        if step is None:
            return False
        claimed = await session.execute(
            update(StaffSecondFactor)
            .where(
                StaffSecondFactor.staff_id == staff_id,
                or_(StaffSecondFactor.last_step.is_(None), StaffSecondFactor.last_step < step),
            )
            .values(last_step=step)
            .execution_options(synchronize_session=False)
        )
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]  # CursorResult on UPDATE
    if len(normalise_recovery_code(cleaned)) != _RECOVERY_LENGTH or not await is_enabled(session, staff_id=staff_id):
        return False
    claimed = await session.execute(
        update(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.staff_id == staff_id,
            StaffRecoveryCode.code_hash == recovery_code_hash(cleaned),
            StaffRecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult on UPDATE
        return False
    await _record(
        session,
        staff_id=staff_id,
        actor_id=staff_id,
        what=SecondFactorChange.RECOVERY_CODE_USED,
        at=now,
        client_ip=client_ip,
    )
    return True


async def remove(
    session: AsyncSession,
    *,
    staff_id: int,
    actor_id: int | None,
    now: datetime,
    client_ip: str | None,
    what: SecondFactorChange,
) -> bool:
    """Take the second factor away (turned off by its owner, or reset by an administrator), with
    its recovery codes; audited when there was one. Whether there was."""
    had = await is_enabled(session, staff_id=staff_id)
    await session.execute(delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_id == staff_id))
    await session.execute(delete(StaffSecondFactor).where(StaffSecondFactor.staff_id == staff_id))
    if had:
        await _record(session, staff_id=staff_id, actor_id=actor_id, what=what, at=now, client_ip=client_ip)
    return had


@dataclass(frozen=True)
class LastChange:
    what: str
    at: datetime
    actor_id: int | None


async def last_changes(session: AsyncSession) -> dict[int, LastChange]:
    """Each staff member's latest second-factor event, for the administrators' list."""
    latest = (
        select(StaffSecurityEvent.staff_id, func.max(StaffSecurityEvent.id).label("id"))
        .group_by(StaffSecurityEvent.staff_id)
        .subquery()
    )
    rows = await session.execute(select(StaffSecurityEvent).join(latest, latest.c.id == StaffSecurityEvent.id))
    return {e.staff_id: LastChange(e.what, e.at, e.actor_id) for e in rows.scalars()}


async def enabled_since(session: AsyncSession) -> dict[int, datetime]:
    """Staff with the second factor on, and since when."""
    rows = await session.execute(
        select(StaffSecondFactor.staff_id, StaffSecondFactor.confirmed_at).where(
            StaffSecondFactor.confirmed_at.is_not(None)
        )
    )
    return {staff_id: at for staff_id, at in rows if at is not None}
