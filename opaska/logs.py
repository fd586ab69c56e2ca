"""Logging set-up: one line per record, to stderr, never a secret."""

from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        force=True,
    )
    # amqtt and paho are chatty at INFO, and amqtt's packet logs at DEBUG would hold passwords.
    for noisy in ("amqtt", "transitions", "paho", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
