"""Notifiers deliver one notification. The offline one records instead of sending."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("opaska.outbox")


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: int
    channel: str
    to_phone: str
    body: str


class Notifier(Protocol):
    async def send(self, message: OutgoingMessage) -> str:
        """Deliver it; returns the provider's id for it. Raises to have it retried."""
        ...


def mask_phone(phone: str) -> str:
    """+48601234567 → +48601***567: enough for an operator to tell numbers apart, not to dial."""
    return phone[:-6] + "***" + phone[-3:] if len(phone) > 8 else "***"


class OfflineNotifier:
    """For `make run` and centres without Twilio: the outbox row is the record; nothing leaves."""

    async def send(self, message: OutgoingMessage) -> str:
        log.info(
            "[offline outbox] %s to %s (notification %d): %s",
            message.channel.upper(),
            mask_phone(message.to_phone),
            message.notification_id,
            message.body[:160],
        )
        return f"offline-{message.notification_id}"
