"""Proactive care metrics."""

from prometheus_client import Counter, Histogram

PASS_SECONDS = Histogram(
    "opaska_checkin_pass_seconds",
    "One pass judging every resident's daily check-in window.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PASS_FAILURES = Counter("opaska_checkin_pass_failures_total", "Check-in passes that failed and were retried.")
ZONE_PASS_SECONDS = Histogram(
    "opaska_zone_pass_seconds",
    "One pass judging new band positions against the residents' safe zones.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ZONE_PASS_FAILURES = Counter("opaska_zone_pass_failures_total", "Zone passes that failed and were retried.")
