"""The alarm canary's metrics (config/prometheus/alerts.yml alerts on them)."""

from prometheus_client import Counter, Gauge, Histogram

CANARY_SECONDS = Histogram(
    "opaska_canary_seconds",
    "The alarm canary end to end: the band's press to its alarm closed on the console's live feed.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CANARY_LAST_SUCCESS = Gauge(
    "opaska_canary_last_success_timestamp_seconds", "When an alarm canary last came through the whole path."
)
# 0 until a canary is lost (a console just started has lost none), 1 while the last one was lost.
CANARY_FAILING = Gauge("opaska_canary_failing", "1 while the last alarm canary did not come through in time.")
CANARY_FAILURES = Counter(
    "opaska_canary_failures_total",
    "Alarm canaries that did not come through in time, by where they stopped.",
    ["stage"],
)
CANARY_ECHO_SECONDS = Histogram(
    "opaska_canary_echo_pass_seconds",
    "One pass of the engine closing canary alarms.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
CANARY_ECHO_FAILURES = Counter("opaska_canary_echo_failures_total", "Engine canary passes that failed.")
