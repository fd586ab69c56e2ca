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
    # The database drivers log every statement with its parameters at DEBUG: session and CSRF
    # tokens, password hashes, medical notes. Our own DEBUG never turns theirs on.
    # fontTools tells of every glyph table it subsets into a report PDF: some 90 lines a report.
    noisy_libraries = (
        "amqtt",
        "transitions",
        "paho",
        "uvicorn.access",
        "aiosqlite",
        "asyncpg",
        "sqlalchemy.engine",
        "fontTools",
    )
    for noisy in noisy_libraries:
        logging.getLogger(noisy).setLevel(logging.WARNING)
