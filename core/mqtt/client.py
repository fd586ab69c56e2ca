"""An asyncio MQTT client over paho-mqtt 2.x.

Why not aiomqtt: the gateway must send a QoS 1 PUBACK only after the message is committed, which
needs paho's `manual_ack`; aiomqtt does not expose it. paho's socket is driven from the event loop
(add_reader / add_writer), so thousands of clients share one thread, and reading can be paused
when the consumer is full, which is how back-pressure reaches the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from core.mqtt.endpoint import MqttEndpoint

log = logging.getLogger(__name__)

Protocol = Literal["3.1.1", "5"]


class MqttError(Exception):
    """The broker could not be reached, refused us, or the connection broke."""


class MqttRefused(MqttError):
    """The broker answered our CONNECT with a refusal (bad credentials, not authorised, ...)."""


@dataclass(frozen=True)
class IncomingMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    mid: int
    # Which connection delivered it: an ack is only valid on the connection that got the message.
    generation: int


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class AsyncMqttClient:
    """One MQTT connection. `connect()` again after a drop resumes the same session."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        protocol: Protocol = "5",
        clean_start: bool = True,
        session_expiry_s: int = 0,
        keepalive_s: int = 30,
        manual_ack: bool = False,
        will: Will | None = None,
        on_message: Callable[[IncomingMessage], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self._protocol = protocol
        self._clean_start = clean_start
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._on_message = on_message
        self._loop = asyncio.get_running_loop()
        self._generation = 0
        self._connected: asyncio.Future[bool] | None = None
        self._disconnected: asyncio.Future[str] = self._loop.create_future()
        self._disconnected.set_result("not connected yet")
        self._pending_publish: dict[int, asyncio.Future[None]] = {}
        self._pending_subscribe: dict[int, asyncio.Future[list[int]]] = {}
        self._misc_task: asyncio.Task[None] | None = None
        self._fileno: int | None = None
        self._reading_paused = False

        self._paho = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if protocol == "5" else paho.MQTTv311,
            clean_session=None if protocol == "5" else clean_start,
            manual_ack=manual_ack,
        )
        self._paho.enable_logger(logging.getLogger("paho"))
        user = username if username is not None else endpoint.username
        secret = password if password is not None else endpoint.password
        if user is not None:
            self._paho.username_pw_set(user, secret)
        if endpoint.tls:
            self._paho.tls_set_context(ssl.create_default_context())
        if will is not None:
            self._paho.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        # Everything runs on this loop's thread, so paho's own locks are never contended.
        self._paho.max_inflight_messages_set(1000)
        self._paho.max_queued_messages_set(0)
        self._paho.on_connect = self._handle_connect
        self._paho.on_disconnect = self._handle_disconnect
        self._paho.on_message = self._handle_message
        self._paho.on_publish = self._handle_publish
        self._paho.on_subscribe = self._handle_subscribe
        self._paho.on_socket_open = self._handle_socket_open
        self._paho.on_socket_close = self._handle_socket_close
        self._paho.on_socket_register_write = self._handle_register_write
        self._paho.on_socket_unregister_write = self._handle_unregister_write

    # -- public API ---------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._paho.is_connected()

    @property
    def is_reading_paused(self) -> bool:
        return self._reading_paused

    @property
    def generation(self) -> int:
        return self._generation

    async def connect(self, timeout: float = 10.0) -> bool:
        """Connect (or reconnect); returns whether the broker still had our session."""
        self._connected = self._loop.create_future()
        self._disconnected = self._loop.create_future()
        properties = None
        if self._protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho ships it untyped
            properties.SessionExpiryInterval = self._session_expiry_s
        try:
            # connect() resolves the name and opens the TCP socket, blocking: keep it off the loop.
            await self._loop.run_in_executor(
                None,
                lambda: self._paho.connect(
                    self.endpoint.host,
                    self.endpoint.port,
                    keepalive=self._keepalive_s,
                    clean_start=self._clean_start if self._protocol == "5" else paho.MQTT_CLEAN_START_FIRST_ONLY,
                    properties=properties,
                ),
            )
        except (OSError, ValueError) as exc:
            raise MqttError(f"cannot reach MQTT broker {self.endpoint}: {exc}") from None
        try:
            return await asyncio.wait_for(asyncio.shield(self._connected), timeout)
        except TimeoutError:
            self._paho.disconnect()
            raise MqttError(f"MQTT broker {self.endpoint} did not answer CONNECT in {timeout:.0f} s") from None

    async def wait_disconnected(self) -> str:
        """Wait until the connection ends; returns why."""
        return await asyncio.shield(self._disconnected)

    async def subscribe(self, filters: list[tuple[str, int]], timeout: float = 10.0) -> list[int]:
        """Subscribe; returns the granted QoS (or a failure code >= 0x80) for each filter."""
        result, mid = self._paho.subscribe(filters)
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"subscribe failed: {paho.error_string(result)}")
        future = self._pending_subscribe.setdefault(mid, self._loop.create_future())
        return await asyncio.wait_for(future, timeout)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout: float | None = 10.0
    ) -> None:
        """Publish; for QoS 1 waits for the broker's PUBACK unless timeout is None."""
        info = self._paho.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise MqttError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        if info.rc == paho.MQTT_ERR_NO_CONN and qos == 0:
            raise MqttError(f"publish to {topic} failed: not connected")
        if timeout is None or qos == 0 or info.is_published():
            return
        future = self._pending_publish.setdefault(info.mid, self._loop.create_future())
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            self._pending_publish.pop(info.mid, None)

    def ack(self, message: IncomingMessage) -> bool:
        """Send the PUBACK for a manually acknowledged message. False if its connection is gone."""
        if message.qos == 0:
            return True
        if message.generation != self._generation or not self.is_connected:
            # The broker will redeliver it on the new connection; acking the old packet id now
            # could acknowledge a different message that reuses it.
            return False
        return self._paho.ack(message.mid, message.qos) == paho.MQTT_ERR_SUCCESS

    def pause_reading(self) -> None:
        """Stop reading from the socket: the broker's window fills and it holds further messages."""
        if not self._reading_paused and self._fileno is not None:
            self._loop.remove_reader(self._fileno)
        self._reading_paused = True

    def resume_reading(self) -> None:
        if self._reading_paused and self._fileno is not None:
            self._loop.add_reader(self._fileno, self._read)
        self._reading_paused = False

    async def disconnect(self) -> None:
        if self.is_connected:
            self._paho.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wait_disconnected(), 5)
        self._close_socket_watch()

    # -- paho callbacks (always on the loop's thread, except socket_open during connect) ------

    def _handle_connect(
        self, _c: paho.Client, _u: Any, flags: paho.ConnectFlags, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if self._connected is None or self._connected.done():
            return
        if reason.is_failure:
            self._connected.set_exception(MqttRefused(f"MQTT broker {self.endpoint} refused us: {reason}"))
            return
        self._generation += 1
        self._connected.set_result(bool(flags.session_present))

    def _handle_disconnect(
        self, _c: paho.Client, _u: Any, _f: paho.DisconnectFlags, reason: ReasonCode, _p: Properties | None
    ) -> None:
        why = str(reason)
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(MqttError(f"MQTT broker {self.endpoint} closed the connection: {why}"))
        if not self._disconnected.done():
            self._disconnected.set_result(why)
        error = MqttError(f"connection lost: {why}")
        pending_futures: list[asyncio.Future[Any]] = [
            *self._pending_publish.values(),
            *self._pending_subscribe.values(),
        ]
        for pending in pending_futures:
            if not pending.done():
                pending.set_exception(error)
                pending.exception()  # mark retrieved: a publisher that gave up waiting must not warn
        self._pending_publish.clear()
        self._pending_subscribe.clear()

    def _handle_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        if self._on_message is None:
            return
        self._on_message(
            IncomingMessage(
                topic=message.topic,
                payload=bytes(message.payload),
                qos=message.qos,
                retain=bool(message.retain),
                dup=bool(message.dup),
                mid=message.mid,
                generation=self._generation,
            )
        )

    def _handle_publish(self, _c: paho.Client, _u: Any, mid: int, _reason: ReasonCode, _p: Properties | None) -> None:
        # Callbacks run on this loop after publish() returned, so a waiter registered already.
        future = self._pending_publish.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _handle_subscribe(
        self, _c: paho.Client, _u: Any, mid: int, reasons: list[ReasonCode], _p: Properties | None
    ) -> None:
        future = self._pending_subscribe.pop(mid, None)
        if future is not None and not future.done():
            future.set_result([r.value for r in reasons])

    def _handle_socket_open(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        # Called from the executor thread inside connect(): hand over to the loop.
        self._loop.call_soon_threadsafe(self._watch_socket, sock.fileno())

    def _watch_socket(self, fileno: int) -> None:
        self._fileno = fileno
        with contextlib.suppress(OSError):
            sock = socket.socket(fileno=fileno)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            finally:
                sock.detach()
        if not self._reading_paused:
            self._loop.add_reader(fileno, self._read)
        if self._misc_task is None or self._misc_task.done():
            self._misc_task = self._loop.create_task(self._misc_loop(), name=f"mqtt-misc-{self.client_id}")

    def _handle_socket_close(self, _c: paho.Client, _u: Any, _sock: Any) -> None:
        self._close_socket_watch()

    def _close_socket_watch(self) -> None:
        if self._fileno is not None:
            self._loop.remove_reader(self._fileno)
            self._loop.remove_writer(self._fileno)
            self._fileno = None
        if self._misc_task is not None and not self._misc_task.done():
            self._misc_task.cancel()

    def _handle_register_write(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        # May come from connect()'s executor thread, and the socket may be gone by the time the
        # loop runs this: only watch the socket we are still watching.
        self._loop.call_soon_threadsafe(self._add_writer, sock.fileno())

    def _add_writer(self, fileno: int) -> None:
        if fileno == self._fileno:
            self._loop.add_writer(fileno, self._write)

    def _handle_unregister_write(self, _c: paho.Client, _u: Any, _sock: Any) -> None:
        if self._fileno is not None:
            self._loop.remove_writer(self._fileno)

    def _read(self) -> None:
        try:
            self._paho.loop_read()
        except Exception as exc:  # a broken socket surfaces here; paho then reports the disconnect
            log.debug("MQTT read failed for %s: %s", self.client_id, exc)
            self._paho.disconnect()

    def _write(self) -> None:
        try:
            self._paho.loop_write()
        except Exception as exc:
            log.debug("MQTT write failed for %s: %s", self.client_id, exc)
            self._paho.disconnect()

    async def _misc_loop(self) -> None:
        # Keepalive pings and timeout detection.
        while self._paho.loop_misc() == paho.MQTT_ERR_SUCCESS:  # noqa: ASYNC110 - paho needs a periodic tick
            await asyncio.sleep(1)
        if not self._disconnected.done():
            self._disconnected.set_result("keepalive timeout")
