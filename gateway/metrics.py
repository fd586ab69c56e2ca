"""Gateway metrics, named for the people who read them."""

from prometheus_client import Counter, Gauge, Histogram

BAND_MESSAGES = Counter(
    "opaska_band_messages_total",
    "Band messages by kind and result (accepted, duplicate, rejected_<reason>).",
    ["kind", "result"],
)
REDELIVERED = Counter(
    "opaska_band_messages_redelivered_total",
    "Messages the broker delivered again (MQTT DUP flag): the gateway died or dropped before acking.",
)
COMMIT_SECONDS = Histogram(
    "opaska_band_message_commit_seconds",
    "From receipt by the gateway to commit in the database.",
    ["priority"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
QUEUE_DEPTH = Gauge("opaska_gateway_queue_messages", "Messages waiting in a gateway queue.", ["queue"])
DB_RETRIES = Counter("opaska_gateway_db_retries_total", "Commits retried because the database failed.")
BANDS_ONLINE = Gauge("opaska_bands_online", "Active bands heard within their offline window.")
