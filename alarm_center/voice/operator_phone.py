"""An operator's own phone: where Twilio rings them first for a call from an alarm. A telephone
number (stored E.164; Polish numbers without +48 accepted) or a SIP address of the centre's
softphones ("sip:anna@centrala.example.pl")."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from registry.model import StaffUser
from registry.phones import InvalidPhone, to_e164

# user@host[:port][;params]: what Twilio dials as a SIP URI; no spaces, no second "sip:".
SIP = re.compile(r"^sip:[A-Za-z0-9._~%!$&'()*+,;=:-]+@[A-Za-z0-9.-]+(:\d{1,5})?(;[A-Za-z0-9=._-]+)*$")
MAX_LENGTH = 120
HOW = "numer telefonu (np. +48 601 234 567 albo 601234567) albo adres SIP (sip:uzytkownik@domena)"


class BadOperatorPhone(ValueError):
    """The message is Polish and says what is accepted."""


def normalise_operator_phone(raw: str) -> str:
    value = raw.strip()
    if value.lower().startswith("sip:"):
        value = "sip:" + value[4:]
        if len(value) > MAX_LENGTH or not SIP.match(value):
            raise BadOperatorPhone(f"nieprawidłowy adres SIP: podaj {HOW}")
        return value
    try:
        return to_e164(value)
    except InvalidPhone:
        raise BadOperatorPhone(f"nieprawidłowy numer: podaj {HOW}") from None


async def set_operator_phone(session: AsyncSession, staff: StaffUser, raw: str | None) -> str | None:
    """Store (normalised) or clear (None / empty) the operator's phone; the stored value."""
    staff.phone = normalise_operator_phone(raw) if raw and raw.strip() else None
    await session.flush()
    return staff.phone
