"""Notifiers deliver one notification. The offline one records instead of sending.

A notifier tells the outbox what happened by what it raises: `PermanentFailure` (resending cannot
help: a bad number, an opted-out one), `OutcomeUnknown` (the request may have gone out and it could
not be found out: reconcile before any resend), anything else (nothing was sent: retry later).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

log = logging.getLogger("opaska.outbox")


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: int
    channel: str
    to_phone: str
    body: str


@dataclass(frozen=True)
class Sent:
    """What a notifier knows once the provider took a message or call."""

    provider_id: str
    # The provider's status in its answer to the create ("queued"): Twilio sends no callback for
    # this first one, so it is only known from here. None when the provider did not say.
    provider_status: str | None = None
    # Nothing left the machine (the offline notifier): the row is done for the outbox, but nobody
    # was told, and the console must say so.
    test_mode: bool = False


class PermanentFailure(Exception):
    """The provider refused it for good (4xx other than 429); retrying would be refused again."""


class OutcomeUnknown(Exception):
    """The request may have been accepted; it must be reconciled before it is ever sent again."""


class Notifier(Protocol):
    async def send(self, message: OutgoingMessage) -> str | Sent:
        """Deliver it; returns the provider's id for it (or `Sent`, which says more). Raises to have
        it retried (see the module)."""
        ...

    async def find_sent(self, message: OutgoingMessage, *, since: datetime, known: set[str]) -> list[str]:
        """The provider's ids of messages like this one (same number and channel, the same text for
        an SMS) created since an attempt started at `since`, oldest first. `known` are provider ids
        notifications already own: never listed. The outbox decides which, if any, is this one's.
        Raises OutcomeUnknown if the provider cannot be asked now."""
        ...


def mask_phone(phone: str) -> str:
    """+48601234567 → +48601***567: enough for an operator to tell numbers apart, not to dial."""
    return phone[:-6] + "***" + phone[-3:] if len(phone) > 8 else "***"


def same_text(listed: str, sent: str) -> bool:
    """Is the listed body the text we sent? Twilio's Smart Encoding may have swapped typographic
    characters (quotes, dashes, odd spaces) for plain ones, so only letters and digits are compared,
    without their accents."""
    return _letters(listed) == _letters(sent)


def _letters(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(char for char in decomposed if char.isalnum()).casefold()


class OfflineNotifier:
    """For `make run` and centres without Twilio (test mode): the outbox row is the record; nothing
    leaves, and every row it takes is marked as not sent."""

    async def send(self, message: OutgoingMessage) -> Sent:
        log.info(
            "[test mode: not sent] %s to %s (notification %d): %s",
            message.channel.upper(),
            mask_phone(message.to_phone),
            message.notification_id,
            message.body[:160],
        )
        return Sent(f"offline-{message.notification_id}", test_mode=True)

    async def find_sent(self, message: OutgoingMessage, *, since: datetime, known: set[str]) -> list[str]:
        # Nothing leaves, so a second "send" after a crash costs one more log line, nothing more.
        return []
