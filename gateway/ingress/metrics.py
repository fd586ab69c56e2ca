"""Ingress adapter metrics: what each adapter took, ignored or refused, by a bounded set of reasons."""

from prometheus_client import Counter, Gauge

INGRESS_MESSAGES = Counter(
    "opaska_ingress_messages_total",
    "Messages from ingress adapters (traccar, watch) by result: accepted, ignored_<reason>, refused_<reason>.",
    ["adapter", "result"],
)
WATCH_CONNECTIONS = Gauge("opaska_watch_connections", "Open watch-protocol TCP connections.")
