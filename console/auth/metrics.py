"""Login figures for Prometheus (the console's /metrics); the alert on them is in config/prometheus/alerts.yml."""

from prometheus_client import Counter

LOGIN_FAILURES = Counter(
    "opaska_login_failures_total", "Console logins refused for a wrong username or password (each one is audited)."
)
LOGIN_THROTTLED = Counter(
    "opaska_login_throttled_total",
    "Console logins answered 429 by the login throttle before the password was checked.",
)
