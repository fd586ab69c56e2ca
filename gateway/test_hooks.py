"""Hooks the crash tests use to stop the gateway at an exact point. Inert unless the variable is set.

OPASKA_TEST_HOLD_BEFORE_COMMIT=<file>: on the first alarm, after receipt and before its commit,
write the message's topic to <file> and wait forever, so the test can SIGKILL the process there.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

HOLD_BEFORE_COMMIT = "OPASKA_TEST_HOLD_BEFORE_COMMIT"


async def hold_before_commit_if_asked(topic: str) -> None:
    marker = os.environ.get(HOLD_BEFORE_COMMIT)
    if not marker:
        return
    await asyncio.to_thread(Path(marker).write_text, topic)
    await asyncio.Event().wait()
