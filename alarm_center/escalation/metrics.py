"""Escalation metrics, named for the people who read them."""

from prometheus_client import Counter, Histogram

# Counted by the escalation worker when it first acts on a new alarm, after commit: the gateway
# counts band messages, supervision its technical alarms; this is every alarm, once.
ALARMS_RAISED = Counter("opaska_alarms_raised_total", "Alarms raised, by kind.", ["kind"])
STEPS = Counter(
    "opaska_escalation_steps_total",
    "Escalation steps fired, by alarm kind, step number (1 = first) and channel.",
    ["kind", "step", "channel"],
)
CLAIM_SECONDS = Histogram(
    "opaska_alarm_claim_seconds",
    "From an alarm being raised to an operator claiming it (seen by escalation), by kind.",
    ["kind"],
    # Around the targets: claimed within 60 s (before the supervisor) and 180 s (before relatives).
    buckets=(5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600, 1800),
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
