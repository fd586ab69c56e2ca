"""Escalation: data-driven policies advanced by durable timers."""
