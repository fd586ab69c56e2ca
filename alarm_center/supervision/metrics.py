"""Supervision metrics, named for the people who read them."""

from prometheus_client import Counter, Histogram

PASS_SECONDS = Histogram(
    "opaska_supervision_pass_seconds",
    "One supervision pass over every band, from start to last commit.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PASS_FAILURES = Counter("opaska_supervision_pass_failures_total", "Supervision passes that failed and were retried.")
TECHNICAL_ALARMS = Counter(
    "opaska_technical_alarms_total",
    "Technical alarms raised or cleared by supervision, by kind and action.",
    ["kind", "action"],
)
