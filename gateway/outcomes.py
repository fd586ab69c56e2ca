"""Every band message the gateway receives ends in exactly one of: accepted, duplicate, rejected.

Counted here (the tally for tests, `opaska_band_messages_total` for people), and each rejection
logged (throttled) and kept for the dead-letter table.
"""

from __future__ import annotations

from collections import Counter

from gateway.judge import Rejection
from gateway.metrics import BAND_MESSAGES
from gateway.payloads import PRIORITY_KINDS, STATUS_KIND, TELEMETRY_MODELS
from gateway.queues import Received
from gateway.reject_log import RejectLog
from registry.traffic.dead_letters import DeadLetterEntry


def kind_label(kind: str | None) -> str:
    # Only known kinds become label values: a hostile topic must not create unbounded series.
    return kind if kind in PRIORITY_KINDS or kind in TELEMETRY_MODELS or kind == STATUS_KIND else "other"


class Outcomes:
    def __init__(self, reject_log: RejectLog) -> None:
        self._reject_log = reject_log
        self.tally: Counter[str] = Counter()
        # Rejected messages waiting for the report lane to write them to the dead-letter table.
        self.dead_letters: list[DeadLetterEntry] = []

    def accepted(self, kind: str, *, duplicate: bool = False) -> None:
        result = "duplicate" if duplicate else "accepted"
        self.tally[result] += 1
        BAND_MESSAGES.labels(kind_label(kind), result).inc()

    def accepted_many(self, counts: Counter[tuple[str, str]]) -> None:
        """(kind label, result) → count: a batch counted at once (a labelled lookup costs more than a count)."""
        for (label, result), count in counts.items():
            self.tally[result] += count
            BAND_MESSAGES.labels(label, result).inc(count)

    def rejected(self, rejection: Rejection, item: Received) -> None:
        self.tally["rejected"] += 1
        BAND_MESSAGES.labels(kind_label(rejection.kind), f"rejected_{rejection.reason}").inc()
        self._reject_log.rejected(rejection)
        self.dead_letters.append(
            DeadLetterEntry(
                received_at=item.received_at,
                topic=item.message.topic,
                payload=item.message.payload,
                reason=rejection.reason,
                detail=rejection.detail,
                band=rejection.band,
                kind=rejection.kind,
            )
        )

    def take_dead_letters(self) -> list[DeadLetterEntry]:
        taken, self.dead_letters = self.dead_letters, []
        return taken
