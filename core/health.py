"""What a process's /readyz reports: its workers, the database, the broker, escalation.

Each part registers its long-running tasks (`watch`) and its own checks (`add_check`) with the
process's `Health`. A worker that stopped, however it stopped, makes the process not ready: a
TaskGroup carries on when one of its children is cancelled, so without this a process could go on
looking healthy with its escalation or alarm loop gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

OK = "ok"
# A database that does not answer within this is reported unreachable (a partition hangs, not fails).
DATABASE_TIMEOUT_S = 2.0
CHECK_TIMEOUT_S = 3.0

Check = Callable[[], Awaitable[str]]


def _task_state(task: asyncio.Future[Any]) -> str:
    if not task.done():
        return OK
    if task.cancelled():
        return "stopped (cancelled)"
    error = task.exception()
    if error is not None:
        return f"failed: {type(error).__name__}: {error}"[:200]
    return "stopped"


async def run_check(check: Check) -> str:
    """A check's answer, within CHECK_TIMEOUT_S; a check that raises or hangs is an answer too."""
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        # Whatever a check asks (the database, the broker) did not answer: to a reader of
        # /readyz that is "unreachable", whichever of the two timeouts noticed it first.
        return f"unreachable: no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:
        return f"failed: {type(exc).__name__}: {exc}"[:200]


class Health:
    """The workers and checks of one process. Every value "ok" means ready."""

    def __init__(self) -> None:
        self._workers: dict[str, asyncio.Future[Any]] = {}
        self._checks: dict[str, Check] = {}

    def watch(self, task: asyncio.Future[Any], name: str | None = None) -> asyncio.Future[Any]:
        """A task that must keep running while the process is up."""
        if name is None:
            name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
        self._workers[name] = task
        return task

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def workers(self) -> dict[str, str]:
        return {name: _task_state(task) for name, task in self._workers.items()}

    async def report(self) -> tuple[bool, dict[str, str]]:
        checks: dict[str, str] = {}
        names = list(self._checks)
        results = await asyncio.gather(*(run_check(self._checks[name]) for name in names))
        checks.update(zip(names, results, strict=True))
        checks.update({f"worker {name}": state for name, state in self.workers().items()})
        return all(value == OK for value in checks.values()), checks


# The process's own; the parts `opaska run` starts in one process share it.
PROCESS = Health()


def database_check(sessions: async_sessionmaker[AsyncSession], timeout_s: float = DATABASE_TIMEOUT_S) -> Check:
    """`ok`, or `unreachable: …` when the database refuses or does not answer within `timeout_s`."""

    async def check() -> str:
        try:
            async with asyncio.timeout(timeout_s), sessions() as session:
                await session.execute(text("SELECT 1"))
        except TimeoutError:
            return f"unreachable: no answer within {timeout_s:g} s"
        except Exception as exc:
            return f"unreachable: {type(exc).__name__}"
        return OK

    return check


class DatabaseWatch:
    """The console's running view of the database, so a page can say "unreachable" at once
    instead of hanging until a connection attempt times out.

    One slow answer is not an outage: a busy machine (or SQLite's writer lock) can keep a probe
    waiting past its timeout while the database is fine, and calling it unreachable would turn
    away every request meanwhile. It takes `failures_to_trip` failed probes in a row."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], every_s: float = 2.0, failures_to_trip: int = 2
    ) -> None:
        self._check = database_check(sessions)
        self._every_s = every_s
        self._failures_to_trip = failures_to_trip
        self._failures = 0
        self.state = OK

    async def run(self) -> None:
        while True:
            # The same outer limit as /readyz: a probe whose clean-up hangs on a dead connection
            # must not stall the watch itself.
            probe = await run_check(self._check)
            self._failures = 0 if probe == OK else self._failures + 1
            state = probe if probe == OK or self._failures >= self._failures_to_trip else self.state
            if state != self.state:
                if state == OK:
                    log.warning("database reachable again")
                else:
                    log.error("database %s", state)
            self.state = state
            await asyncio.sleep(self._every_s)


def health_app(health: Health) -> Starlette:
    """/metrics, /healthz and /readyz for a process without the console (gateway, engine)."""

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": OK})

    async def readyz(_request: Request) -> JSONResponse:
        ready, checks = await health.report()
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    return Starlette(
        routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)],
    )


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def health_server(health: Health, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(health_app(health), host=host, port=port, log_config=None, access_log=False, lifespan="off")
    return _QuietServer(config)
