"""Rejected band messages in the log: once per band and reason per interval, never a flood.

A band with broken firmware may send a bad heartbeat every minute for months; the log gets one
line per interval saying how many were rejected since, and the dead-letter table keeps examples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.judge import Reason, Rejection

log = logging.getLogger("gateway.rejects")

MAX_TRACKED = 50_000


class RejectLog:
    def __init__(self, every_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._monotonic = monotonic
        # (band, reason) → (when last logged, rejects since)
        self._state: dict[tuple[str, str], tuple[float, int]] = {}

    def rejected(self, rejection: Rejection) -> bool:
        """Count a rejection; log it if this band's last line for this reason is old enough. True if logged."""
        key = (rejection.band or "-", rejection.reason)
        now = self._monotonic()
        last = self._state.get(key)
        if last is not None and now - last[0] < self._every_s:
            self._state[key] = (last[0], last[1] + 1)
            return False
        if len(self._state) >= MAX_TRACKED:
            self._state.clear()
        suppressed = last[1] if last is not None else 0
        self._state[key] = (now, 0)
        # A band naming another band in its payload is a security matter, not a firmware bug.
        level = logging.WARNING if rejection.reason == Reason.BAND_MISMATCH else logging.INFO
        log.log(
            level,
            "band message rejected (%s) from %s: %s%s",
            rejection.reason,
            rejection.band or "unknown topic",
            rejection.detail,
            f" (and {suppressed} more since the last line)" if suppressed else "",
        )
        return True
