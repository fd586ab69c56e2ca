"""Automatic callbacks: after each create, the statuses of `config.auto` played by themselves (for demos)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from simulator.fake_twilio.config import AutoPlay, FakeConfig
from simulator.fake_twilio.messaging import Messaging
from simulator.fake_twilio.records import FakeCall, FakeMessage
from simulator.fake_twilio.voice import Voice

log = logging.getLogger(__name__)


class AutoPlayer:
    """Plays each message's and call's statuses in a task of its own, so the create is answered at once."""

    def __init__(self, config: FakeConfig, messaging: Messaging, voice: Voice) -> None:
        self._config = config
        self._messaging = messaging
        self._voice = voice
        self._tasks: set[asyncio.Task[None]] = set()

    def message_created(self, message: FakeMessage) -> None:
        if self._config.auto is not None:
            self._play(self._message(message, self._config.auto))

    def call_created(self, call: FakeCall) -> None:
        if self._config.auto is not None:
            self._play(self._call(call, self._config.auto))

    async def idle(self, *, timeout: float = 2.0) -> None:
        """Wait until every automatic callback started so far has been delivered."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def cancel(self) -> None:
        """Stop every callback still to be played, and wait until they have stopped."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _play(self, coroutine: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coroutine
            except asyncio.CancelledError:
                raise
            except Exception:
                # A demo's opaska may be down or refuse a callback; the fake keeps serving.
                log.exception("fake twilio: automatic callback failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _message(self, message: FakeMessage, auto: AutoPlay) -> None:
        for status in auto.by_number.get(message.to, auto.sms):
            await asyncio.sleep(auto.delay)
            await self._messaging.message_status(message.sid, status)

    async def _call(self, call: FakeCall, auto: AutoPlay) -> None:
        for status in auto.by_number.get(call.to, auto.call):
            await asyncio.sleep(auto.delay)
            if status == "in-progress":
                await self._voice.answer_call(call.sid)
                digits = auto.digits.get(call.to)
                if digits:
                    await asyncio.sleep(auto.delay)
                    await self._voice.press(call.sid, digits)
            else:
                await self._voice.call_status(call.sid, status)
