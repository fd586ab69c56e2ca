"""Registry errors: each names the field at fault and says what is wrong in Polish, for the user.

The console maps them to HTTP: `NotFound` 404, `Duplicate` and `Conflict` 409, any other
`RegistryError` 422; the CLI prints `field: message` and exits with 2.
"""

from __future__ import annotations


class RegistryError(ValueError):
    """Bad registry input."""

    def __init__(self, *, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(RegistryError):
    """The thing named does not exist."""


class Duplicate(RegistryError):
    """A serial, IMEI or code that is already registered."""


class Conflict(RegistryError):
    """The request clashes with the current state (a band bound elsewhere, a retired band)."""
