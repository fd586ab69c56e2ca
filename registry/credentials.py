"""Band secrets: random 128-bit values, stored in Mosquitto's `$7$` PBKDF2-SHA512 format.

One stored hash serves the embedded broker, Mosquitto's password file and the EMQX hook. A slow
hash (argon2) would buy nothing against a random 128-bit secret and would cost minutes of CPU in
a reconnect storm of 10,000 bands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 101  # mosquitto_passwd's own default for $7$
SALT_BYTES = 12


def new_band_secret() -> str:
    return secrets.token_urlsafe(16)


def hash_band_secret(secret: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_band_secret(secret: str, stored: str) -> bool:
    try:
        _, tag, iterations, salt_b64, digest_b64 = stored.split("$")
        if tag != "7":
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        rounds = int(iterations)
    except ValueError:
        return False
    if not 1 <= rounds <= 1_000_000:
        return False
    actual = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, rounds)
    return hmac.compare_digest(actual, expected)
