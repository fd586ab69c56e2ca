"""B2's floor: band alarms from the broker to a WebSocket, with nothing of the platform between.

    BENCH_RELAY_PASSWORD=... python -m bench.bare_relay --port P --username U --filter T [--filter T ...]

A plain paho client (its own network thread, MQTT 5, QoS 1, a persistent session, the platform's
service account on the platform's listener: as the gateway's alarm connection subscribes) hands
every message it gets to a minimal `websockets` server in the same process, which sends it on to
every connected client as `{"topic": ..., "payload": ...}`. No validation, no database, no
`alarm_received` to the band. Whatever the console adds over this (judging, committing, escalating,
the live feed) is what B2 compares.

Prints one JSON line when subscribed and listening (`{"ready": true, "ws_port": N}`), runs until
SIGTERM, then prints one JSON line with what it forwarded. Imports only paho and websockets, so its
resident memory is the relay's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from websockets.asyncio.server import ServerConnection, broadcast, serve

# The password comes in this variable, not on the command line, where `ps` shows it.
PASSWORD_ENV = "BENCH_RELAY_PASSWORD"  # noqa: S105 - the variable's name, not a password


class Relay:
    """MQTT in (paho's thread), WebSocket out (the asyncio loop)."""

    def __init__(self, args: argparse.Namespace, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.filters: list[str] = args.filter
        self.clients: set[ServerConnection] = set()
        self.forwarded = 0
        self.connects = 0
        self.subscribed = asyncio.Event()
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=args.client_id,
            protocol=paho.MQTTv5,
        )
        self.client.username_pw_set(args.username, os.environ.get(PASSWORD_ENV, ""))
        # About the gateway's pace after a broker restart (at once, then 0.25-0.5 s doubling, jittered), so
        # the reconnect storm compares the work done, not the wait: paho's default first wait is 1 s.
        # paho sleeps a float; its annotation says int.
        self.client.reconnect_delay_set(min_delay=0.25, max_delay=30)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def start(self, host: str, port: int) -> None:
        # A persistent session, as the gateway's: an alarm sent while the relay reconnects waits for it.
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho ships it untyped
        properties.SessionExpiryInterval = 3600
        self.client.connect(host, port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            print(f"relay: connect refused: {reason}", file=sys.stderr, flush=True)
            return
        self.connects += 1
        client.subscribe([(topic_filter, 1) for topic_filter in self.filters])

    def _on_subscribe(self, _c: paho.Client, _u: Any, _mid: int, codes: list[ReasonCode], _p: Any) -> None:
        if any(code.is_failure for code in codes):
            print(f"relay: subscription refused: {codes}", file=sys.stderr, flush=True)
            return
        self.loop.call_soon_threadsafe(self.subscribed.set)

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        text = json.dumps({"topic": message.topic, "payload": message.payload.decode("utf-8", "replace")})
        self.loop.call_soon_threadsafe(self._send, text)

    def _send(self, text: str) -> None:
        self.forwarded += 1
        broadcast(self.clients, text)

    async def handler(self, connection: ServerConnection) -> None:
        self.clients.add(connection)
        try:
            # Says the client is on the list: from now on it gets every message.
            await connection.send('{"type": "ready"}')
            await connection.wait_closed()
        finally:
            self.clients.discard(connection)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    relay = Relay(args, asyncio.get_running_loop())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with serve(relay.handler, "127.0.0.1", 0) as server:
        ws_port = next(iter(server.sockets)).getsockname()[1]
        relay.start(args.host, args.port)
        await asyncio.wait_for(relay.subscribed.wait(), 30)
        print(json.dumps({"ready": True, "ws_port": ws_port, "pid": os.getpid()}), flush=True)
        await stop.wait()
        relay.stop()
    return {"forwarded": relay.forwarded, "connects": relay.connects, "threads": threading.active_count()}


class RelayProcess:
    """The parent's handle on a relay process."""

    def __init__(self, process: asyncio.subprocess.Process, ws_port: int) -> None:
        self.process = process
        self.ws_port = ws_port

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"

    @classmethod
    async def start(
        cls, *, port: int, username: str, password: str, filters: list[str], log_path: Path
    ) -> RelayProcess:
        arguments = ["--port", str(port), "--username", username]
        for topic_filter in filters:
            arguments += ["--filter", topic_filter]
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.bare_relay",
                *arguments,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, PASSWORD_ENV: password},
            )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            await process.wait()
            said = log_path.read_text()  # noqa: ASYNC240 - the relay is gone
            raise RuntimeError(f"relay exited ({process.returncode}) before it was ready:\n{said}")
        return cls(process, int(json.loads(line)["ws_port"]))

    async def finish(self, timeout: float = 20.0) -> dict[str, Any]:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return {}
        return json.loads(line) if line else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--client-id", default="bench:relay")
    parser.add_argument("--filter", action="append", required=True, help="topic filter; repeat for more")
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
