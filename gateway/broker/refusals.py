"""What the embedded broker refuses, counted for Prometheus and logged without flooding the disk.

A refused CONNECT, a publish or a subscription outside the topic rules is either a misconfigured
band (one every few seconds, for months) or someone probing the band edge (thousands a second).
Both must be visible, neither may fill the log: each (action, reason) gets at most one line per
interval, carrying how many more there were since the last line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

from prometheus_client import Counter

log = logging.getLogger("gateway.broker.refusals")

BROKER_REFUSALS = Counter(
    "opaska_broker_refusals_total",
    "Connections, publishes and subscriptions the embedded MQTT broker refused, by action and reason.",
    ["action", "reason"],
)


class Refused(StrEnum):
    """Why; a closed set, so a hostile client cannot create unbounded metric series."""

    BAD_CREDENTIALS = "bad_credentials"
    CLIENT_ID = "client_id_not_allowed"
    WILL_TOPIC = "will_topic_not_allowed"
    AUTH_ERROR = "authentication_error"
    CONNECT_TIMEOUT = "connect_timeout"
    NO_CONNECT = "no_connect"
    PROTOCOL = "protocol_error"
    TOO_MANY_PENDING = "too_many_pending"
    TOPIC_RULES = "topic_rules"


class RefusalLog:
    def __init__(self, every_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._monotonic = monotonic
        # (action, reason) → (when last logged, refusals since): a handful of keys, never more.
        self._state: dict[tuple[str, Refused], tuple[float, int]] = {}

    def refused(self, action: str, reason: Refused, detail: str) -> bool:
        """Count a refusal; log it unless this (action, reason) was logged within the interval. True if logged."""
        BROKER_REFUSALS.labels(action, reason.value).inc()
        key = (action, reason)
        now = self._monotonic()
        last = self._state.get(key)
        if last is not None and now - last[0] < self._every_s:
            self._state[key] = (last[0], last[1] + 1)
            return False
        suppressed = last[1] if last is not None else 0
        self._state[key] = (now, 0)
        more = f" (and {suppressed} more since the last line)" if suppressed else ""
        log.warning("MQTT %s refused (%s): %s%s", action, reason.value, detail, more)
        return True
