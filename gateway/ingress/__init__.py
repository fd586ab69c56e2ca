"""Ingress adapters: bands that speak something other than opaska's MQTT JSON.

Each adapter only turns its input into the MQTT protocol's own normalised band messages and hands
them to the gateway (`Gateway.ingest`); judging, dedup, priority, presence and metrics are the
gateway's and never know the source. Traccar (`traccar`) fronts ~200 device protocols; the watch
protocol (`watch_*`) is spoken natively. docs/devices/ says which device goes which way.
"""
