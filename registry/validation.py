"""Checks shared by the registry's services and the CSV import; each raises RegistryError in Polish."""

from __future__ import annotations

from datetime import date

from registry.errors import RegistryError
from registry.phones import InvalidPhone, to_e164

# Languages we have message templates for (config/templates/).
LANGUAGES = ("pl", "en")


def phone(value: str, *, field: str = "phone") -> str:
    """E.164; a Polish number may be given without +48."""
    try:
        return to_e164(value)
    except InvalidPhone:
        raise RegistryError(
            field=field, message=f"nieprawidłowy numer telefonu {value!r} (np. 601 234 567 lub +48 601 234 567)"
        ) from None


def optional_phone(value: str | None, *, field: str = "phone") -> str | None:
    return phone(value, field=field) if value and value.strip() else None


def required_text(value: str, *, field: str, max_length: int) -> str:
    text = value.strip()
    if not text:
        raise RegistryError(field=field, message="pole wymagane")
    if len(text) > max_length:
        raise RegistryError(field=field, message=f"najwyżej {max_length} znaków")
    return text


def optional_text(value: str, *, field: str, max_length: int) -> str:
    text = value.strip()
    if len(text) > max_length:
        raise RegistryError(field=field, message=f"najwyżej {max_length} znaków")
    return text


def language(value: str, *, field: str = "language") -> str:
    code = value.strip().lower()
    if code not in LANGUAGES:
        raise RegistryError(field=field, message=f"nieznany język {value!r}; dostępne: {', '.join(LANGUAGES)}")
    return code


# What a person may type for the sex, as the resident's documents say -> the stored code.
SEXES = {"f": "F", "k": "F", "kobieta": "F", "female": "F", "m": "M", "mężczyzna": "M", "mezczyzna": "M", "male": "M"}


def sex(value: str | None, *, field: str = "sex") -> str | None:
    """'F' or 'M' (Polish K/M, English F/M, or the words); None or empty: not recorded."""
    if value is None or not value.strip():
        return None
    code = SEXES.get(value.strip().lower())
    if code is None:
        raise RegistryError(field=field, message=f"płeć: K (kobieta) lub M (mężczyzna), podano {value!r}")
    return code


def birth_date(value: date | None, *, today: date, field: str = "birth_date") -> date | None:
    if value is not None and not date(1900, 1, 1) <= value <= today:
        raise RegistryError(field=field, message=f"data urodzenia spoza zakresu 1900-01-01 - {today.isoformat()}")
    return value
