"""Band identifiers: the serial (its MQTT username and topic level) and the IMEI (Luhn-checked)."""

from __future__ import annotations

import re

from registry.errors import RegistryError

IMEI_LENGTH = 15
ADAPTERS = ("mqtt", "traccar", "watch")
# A watch-protocol ID: the IMEI, or the shorter registration code some watches send (e.g. 10 digits).
WATCH_ID = re.compile(r"[0-9A-Za-z]{6,20}")
# A band id (serial) must be one plain topic level: `+ # /` would let it reach other bands' topics,
# `:` separates user and hash in Mosquitto's password file (and keeps every band id apart from the
# platform's own MQTT client ids, `gateway.broker.acl.platform_client_id`).
FORBIDDEN_IN_BAND_ID = frozenset("+#/:\x00")


def is_valid_band_id(band_id: str) -> bool:
    return 0 < len(band_id) <= 64 and not (set(band_id) & FORBIDDEN_IN_BAND_ID) and band_id.isprintable()


def luhn_check_digit(payload: str) -> int:
    """The Luhn digit that completes `payload` (digits only)."""
    total = 0
    # Doubling starts from the digit next to the check digit, i.e. the last digit of the payload.
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def normalise_imei(raw: str) -> str:
    """The IMEI as 15 digits; spaces and dashes as printed on a label are dropped.

    RegistryError(field="imei") says which rule it breaks: length, non-digits, or the check digit.
    """
    value = raw.strip().replace(" ", "").replace("-", "")
    if not value.isascii() or not value.isdigit():
        raise RegistryError(field="imei", message=f"IMEI może zawierać tylko cyfry (podano {raw!r})")
    if len(value) != IMEI_LENGTH:
        raise RegistryError(field="imei", message=f"IMEI ma 15 cyfr, podano {len(value)}")
    expected = luhn_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise RegistryError(
            field="imei",
            message=f"błędna cyfra kontrolna IMEI (ostatnia cyfra powinna być {expected}, jest {value[-1]})",
        )
    return value


def check_serial(raw: str) -> str:
    serial = raw.strip()
    if not is_valid_band_id(serial):
        raise RegistryError(field="serial", message="numer seryjny: 1-64 znaki drukowalne, bez '+', '#', '/' i ':'")
    return serial


def check_device_id(adapter: str, raw: str | None, *, imei: str | None = None) -> str | None:
    """The band's identity at its adapter: None for MQTT bands, else the watch ID or Traccar uniqueId.

    Without one, a Traccar or watch band is known by its IMEI. A 15-digit watch ID is an IMEI and
    must pass the Luhn check (a typo would otherwise lock the real watch out).
    """
    if adapter not in ADAPTERS:
        raise RegistryError(field="adapter", message=f"adapter: jeden z {', '.join(ADAPTERS)} (podano {adapter!r})")
    value = (raw or "").strip() or imei
    if adapter == "mqtt":
        if raw and raw.strip():
            raise RegistryError(field="device_id", message="opaska MQTT nie ma identyfikatora urządzenia (device_id)")
        return None
    if not value:
        raise RegistryError(field="device_id", message=f"podaj identyfikator urządzenia ({adapter}) albo IMEI")
    if adapter == "watch":
        if not WATCH_ID.fullmatch(value):
            raise RegistryError(field="device_id", message="ID zegarka: 6-20 cyfr lub liter (IMEI albo kod z etykiety)")
        if len(value) == IMEI_LENGTH and value.isdigit():
            return normalise_imei(value)
        return value
    if len(value) > 64 or not value.isprintable():
        raise RegistryError(field="device_id", message="identyfikator Traccar (uniqueId): 1-64 znaki drukowalne")
    return value
