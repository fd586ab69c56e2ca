"""Escalation metrics, named for the people who read them."""

from prometheus_client import Counter, Histogram

STEPS = Counter(
    "opaska_escalation_steps_total",
    "Escalation steps fired, by alarm kind, step number (1 = first) and channel.",
    ["kind", "step", "channel"],
)
RELEASED = Counter("opaska_escalation_released_total", "Claimed alarms sent back to the queue for lack of progress.")
ROUND_SECONDS = Histogram(
    "opaska_escalation_round_seconds",
    "One escalation worker round: sweep and every due step, to the last commit.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ROUND_FAILURES = Counter("opaska_escalation_round_failures_total", "Escalation rounds that failed and were retried.")
STALE_JOBS = Counter(
    "opaska_escalation_stale_jobs_total", "Escalation jobs fenced off: the row had moved on (another worker, a replay)."
)
