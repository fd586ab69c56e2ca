"""The exit statuses docs/cli.md promises: 0 done, 1 could not be done, 2 bad input, 130
interrupted; and a service whose part ends by itself is a failure, not a clean stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from core.startup import StartupError
from opaska import cli, exits
from opaska.running import until_signalled


async def _returns(value: int | None) -> int | None:
    return value


async def _raises(error: BaseException) -> int:
    raise error


@pytest.mark.parametrize(
    ("coroutine", "status", "said"),
    [
        (lambda: _returns(None), 0, ""),
        (lambda: _returns(2), 2, ""),
        (lambda: _raises(exits.BadInput("--at: nie")), 2, "opaska: --at: nie\n"),
        (lambda: _raises(StartupError("cannot reach the database")), 1, "opaska: cannot reach the database\n"),
        (lambda: _raises(KeyboardInterrupt()), 130, ""),
    ],
)
def test_each_ending_has_its_status(
    coroutine: Callable[[], Coroutine[Any, Any, int | None]], status: int, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli._run(coroutine()) == status
    assert capsys.readouterr().err == said


def test_the_documented_numbers() -> None:
    assert (exits.OK, exits.FAILED, exits.BAD_INPUT, exits.INTERRUPTED) == (0, 1, 2, 130)


@pytest.mark.asyncio
async def test_a_part_that_ends_by_itself_fails_the_process() -> None:
    stopped: list[bool] = []

    async def on_stop() -> None:
        stopped.append(True)

    async def forever() -> None:
        await asyncio.Event().wait()

    async def ends() -> None:
        return None

    with pytest.raises(StartupError, match="engine stopped unexpectedly"):
        await until_signalled({"gateway": forever(), "engine": ends()}, on_stop)
    assert stopped == [True]
