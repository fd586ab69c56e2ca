"""Notification metrics, named for the people who read them."""

from prometheus_client import Counter, Histogram

NOTIFICATIONS = Counter(
    "opaska_notifications_total",
    "Notifications by channel (sms, voice) and result: sent, delivered, failed, no_answer (final states);"
    " retried, reconciled (found at the provider instead of resent), rate_limited, fallback (a voice call"
    " made for a failed SMS), cancelled.",
    ["channel", "result"],
)
SEND_SECONDS = Histogram(
    "opaska_notification_send_seconds",
    "One request to the provider to send a notification, by channel, whatever its outcome.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
CONTACT_RESPONSES = Counter(
    "opaska_contact_responses_total",
    "Relatives' answers recorded, by how they came (sms, voice) and what they said (going, cannot).",
    ["via", "answer"],
)
WEBHOOKS = Counter(
    "opaska_twilio_webhooks_total",
    "Twilio webhooks received, by hook (status, sms, voice, gather) and result (ok, forbidden, unknown).",
    ["hook", "result"],
)
OUTBOX_PASS_FAILURES = Counter(
    "opaska_outbox_pass_failures_total", "Outbox sender passes that failed and were retried."
)
