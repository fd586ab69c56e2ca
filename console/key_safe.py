"""Key-safe codes, encrypted at rest with Fernet under the console's data key.

A code opens a resident's door: a copy of the database (a backup, a laptop) must not be enough
to read it. Codes are never logged.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.ext.asyncio import AsyncSession

from registry.model import Resident

MAX_CODE_LENGTH = 32


class KeySafeUnavailable(Exception):
    """No data key, or the stored code was encrypted under another key."""


class KeySafeCodeRejected(ValueError):
    """A code that cannot be stored; the message says why."""


def encrypt_key_safe_code(data_key: Fernet | None, code: str) -> str:
    if data_key is None:
        raise KeySafeUnavailable("no data key: set OPASKA_CONSOLE_DATA_KEY to store key-safe codes")
    code = code.strip()
    if not code or len(code) > MAX_CODE_LENGTH:
        raise KeySafeCodeRejected(f"code: 1-{MAX_CODE_LENGTH} characters")
    return data_key.encrypt(code.encode()).decode("ascii")


def read_key_safe_code(data_key: Fernet | None, stored: str) -> str:
    if data_key is None:
        raise KeySafeUnavailable("no data key: set OPASKA_CONSOLE_DATA_KEY to read key-safe codes")
    try:
        return data_key.decrypt(stored.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise KeySafeUnavailable(
            "the stored key-safe code was encrypted under another data key (OPASKA_CONSOLE_DATA_KEY changed?)"
        ) from None


async def set_key_safe_code(
    session: AsyncSession, data_key: Fernet | None, *, resident_id: int, code: str | None
) -> None:
    """Store (or, with None, remove) a resident's key-safe code. Does not commit."""
    resident = await session.get(Resident, resident_id)
    if resident is None:
        raise KeySafeCodeRejected(f"resident_id: no resident {resident_id}")
    resident.key_safe_code_encrypted = None if code is None else encrypt_key_safe_code(data_key, code)
    await session.flush()
