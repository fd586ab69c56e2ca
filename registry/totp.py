"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), as authenticator apps make them.

Thirty-second steps, six digits, HMAC-SHA1: what every authenticator app (Google Authenticator,
Microsoft Authenticator, FreeOTP, Aegis) shows for an `otpauth://totp/` URI without parameters.
Pure functions; where a code is accepted, and that it is accepted once, is second_factor.py's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
# Twenty bytes: the length of SHA-1's output, as RFC 4226 recommends for the shared secret.
SECRET_BYTES = 20
# A code of the step before or after is accepted too: a phone's clock a little off, a code typed
# as it changed.
WINDOW = 1


def new_secret() -> str:
    """A fresh shared secret, in the base32 (no padding) the apps take typed or from the QR code."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def secret_bytes(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, algorithm: str = "sha1") -> str:
    """RFC 4226: HMAC of the counter, dynamically truncated to `digits` decimal digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, algorithm)).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def time_step(unix_seconds: float, *, step_s: int = STEP_S) -> int:
    return int(unix_seconds // step_s)


def totp(key: bytes, unix_seconds: float, *, digits: int = DIGITS, algorithm: str = "sha1") -> str:
    """RFC 6238: the HOTP of the number of 30-second steps since the epoch."""
    return hotp(key, time_step(unix_seconds), digits=digits, algorithm=algorithm)


def matching_step(secret: str, code: str, unix_seconds: float, *, window: int = WINDOW) -> int | None:
    """The time step whose code `code` is (now's, or one of `window` steps either side), else None.

    Every candidate is compared in constant time, and all are computed, so the answer's timing
    does not tell which step matched.
    """
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    key = secret_bytes(secret)
    now = time_step(unix_seconds)
    found: int | None = None
    for step in range(now - window, now + window + 1):
        if hmac.compare_digest(hotp(key, step).encode(), code.encode()) and found is None:
            found = step
    return found


def otpauth_uri(secret: str, *, account: str, issuer: str) -> str:
    """The URI an authenticator app reads from the QR code: `otpauth://totp/Issuer:account?...`."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP_S})
    return f"otpauth://totp/{label}?{query}"
