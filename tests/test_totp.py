"""registry/totp.py against the RFCs' own test vectors (RFC 4226 appendix D, RFC 6238 appendix B)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from registry import totp

RFC4226_KEY = b"12345678901234567890"
RFC4226_CODES = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]

# RFC 6238 appendix B: the seed is the ASCII digits repeated to the hash's own key length.
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_CODES)))
def test_hotp_rfc4226_vectors(counter: int, expected: str) -> None:
    assert totp.hotp(RFC4226_KEY, counter) == expected


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC6238)
def test_totp_rfc6238_vectors(unix_time: int, sha1: str, sha256: str, sha512: str) -> None:
    for algorithm, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp.totp(SEEDS[algorithm], unix_time, digits=8, algorithm=algorithm) == expected


def test_a_code_of_the_step_before_or_after_matches_and_no_further() -> None:
    secret = base64.b32encode(RFC4226_KEY).decode().rstrip("=")
    now = 1111111111.0
    step = totp.time_step(now)
    for offset in (-1, 0, 1):
        code = totp.hotp(RFC4226_KEY, step + offset)
        assert totp.matching_step(secret, code, now) == step + offset
    for offset in (-2, 2):
        assert totp.matching_step(secret, totp.hotp(RFC4226_KEY, step + offset), now) is None
    assert totp.matching_step(secret, "12345", now) is None
    assert totp.matching_step(secret, "１２３４５６", now) is None  # full-width digits are no code


def test_new_secrets_are_160_bits_and_read_back() -> None:
    secret = totp.new_secret()
    assert len(totp.secret_bytes(secret)) == 20
    assert secret != totp.new_secret()


def test_otpauth_uri_names_the_issuer_and_the_account() -> None:
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXP", account="anna.k", issuer="opaska")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/opaska:anna.k")
    query = parse_qs(parts.query)
    assert query["secret"] == ["JBSWY3DPEHPK3PXP"]
    assert query["issuer"] == ["opaska"]
    assert (query["digits"], query["period"], query["algorithm"]) == (["6"], ["30"], ["SHA1"])
