"""Alarm metrics, counted where the alarm is stored or claimed, once the transaction commits."""

from prometheus_client import Counter, Histogram

ALARMS_RAISED = Counter("opaska_alarms_raised_total", "Alarms raised, by kind.", ["kind"])
CLAIM_SECONDS = Histogram(
    "opaska_alarm_claim_seconds",
    "From an alarm being raised (its band message received) to an operator claiming it, by kind.",
    ["kind"],
    # Around the targets: claimed within 60 s (before the supervisor) and 180 s (before relatives).
    buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600, 1800),
)
