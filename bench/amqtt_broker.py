"""The embedded amqtt broker of bench/amqtt_cap.py, in a spawned child process of its own.

Its own process so that the benchmark's clients, all in the parent's asyncio loop, do not take CPU
from it; the parent asks it over a pipe for its process time, to tell broker CPU from client CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

from core.db.engine import make_engine, make_session_factory
from gateway.broker.acl import TopicRules
from gateway.broker.credential_store import CredentialStore
from gateway.broker.embedded import EmbeddedBroker
from gateway.topics import TopicScheme
from simulator.lab.ports import free_port

ROOT = "opaska/v1"
SERVICE_USERNAME = "opaska-bench"


def _broker_child(db_url: str, port: int, service_password: str, control: Connection) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_run_broker(db_url, port, service_password, control))


async def _run_broker(db_url: str, port: int, service_password: str, control: Connection) -> None:
    engine = make_engine(db_url)
    credentials = CredentialStore(
        make_session_factory(engine), service_username=SERVICE_USERNAME, service_password=service_password
    )
    broker = EmbeddedBroker("127.0.0.1", port, credentials=credentials, rules=TopicRules(TopicScheme(ROOT)))
    await broker.start()
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(control.fileno(), lambda: commands.put_nowait(control.recv()))
    control.send("ready")
    try:
        while (command := await commands.get()) != "stop":
            if command == "cpu":
                control.send(time.process_time())
    finally:
        loop.remove_reader(control.fileno())
        await broker.stop()
        await engine.dispose()
        control.send("stopped")


class BrokerProcess:
    def __init__(self, db_url: str, service_password: str) -> None:
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self._control, child_end = context.Pipe()
        self._process = context.Process(
            target=_broker_child, args=(db_url, self.port, service_password, child_end), daemon=True
        )
        self._process.start()
        child_end.close()

    async def _ask(self, command: str, timeout: float = 30.0) -> Any:
        def ask() -> Any:
            if command:
                self._control.send(command)
            if not self._control.poll(timeout):
                raise TimeoutError(f"the broker process did not answer {command or 'start'!r} in {timeout:.0f} s")
            return self._control.recv()

        return await asyncio.get_running_loop().run_in_executor(None, ask)

    async def started(self) -> None:
        if await self._ask("") != "ready":
            raise RuntimeError("the broker process did not start")

    async def cpu_seconds(self) -> float:
        return float(await self._ask("cpu"))

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError, EOFError, OSError):
            await self._ask("stop")
        await asyncio.get_running_loop().run_in_executor(None, self._process.join, 10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
