"""Keeps the care gauges (alarm_center/quality/metrics.py: open alarms by kind and age, bands by
presence, today's answer-time shares) fresh while the console runs, for its /metrics.

A route module with no routes, only a lifespan: FastAPI runs an included router's lifespan inside
the app's, so this feature starts its loop without an edit to console/app.py.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI

from alarm_center.quality import metrics as care_metrics
from console.context import ConsoleContext
from core.clock import Clock


@contextlib.asynccontextmanager
async def _refresh_care_metrics(app: FastAPI) -> AsyncIterator[None]:
    context: ConsoleContext = app.state.context
    clock: Clock = app.state.clock
    task = asyncio.create_task(
        care_metrics.keep_fresh(context.session_factory, clock, bands=context.bands),
        name="care-metrics",
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(lifespan=_refresh_care_metrics)
