"""A minimal MQTT 3.1.1 client on asyncio's Protocol, for fleets of thousands of virtual bands.

Why not the platform's `AsyncMqttClient` (paho driven by add_reader/add_writer): it is right for
the gateway (manual acks, MQTT 5), but each paho client opens its socket in an executor thread and
keeps a task that wakes every second for keepalive. At 10,000 bands that is 10,000 wake-ups a second
while idle; measured (docs/performance.md) the fleet then spends most of a core doing nothing. A band
needs only CONNECT (with credentials and a will), SUBSCRIBE, PUBLISH and PUBACK at QoS 1, and PINGREQ:
a few hundred lines, no thread, no per-band timer (the fleet sends pings from one task).

Only what a band uses is implemented: QoS 0/1 (no QoS 2), one subscription per SUBSCRIBE.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = (
    1,
    2,
    3,
    4,
    8,
    9,
    12,
    13,
    14,
)
CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class LinkError(Exception):
    """The broker refused us, or the connection is not there."""


@dataclass(frozen=True)
class LinkWill:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _remaining_length(len(body)) + body


def connect_packet(
    *, client_id: str, username: str | None, password: str | None, keepalive_s: int, will: LinkWill | None
) -> bytes:
    flags = 0x02  # clean session: a band keeps no session, its config downlink is retained
    payload = _string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _string(will.topic) + _string(will.payload)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    return _packet(CONNECT << 4, _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s) + payload)


class MqttLink(asyncio.Protocol):
    """One connection. Incoming QoS 1 messages are acked at once (a band has no reason to wait)."""

    def __init__(
        self,
        on_message: Callable[[str, bytes], None],
        on_lost: Callable[[MqttLink, Exception | None], None] | None = None,
    ) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._connack: asyncio.Future[None] | None = None
        self._acks: dict[int, asyncio.Future[None]] = {}
        self._next_id = 0
        self.connected = False
        self.closing = False
        self.last_sent = 0.0

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= 2:
            # Remaining length: up to 4 bytes of 7 bits each.
            multiplier, length, index = 1, 0, 1
            while True:
                if index >= len(buffer):
                    return
                byte = buffer[index]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                index += 1
                if not byte & 0x80:
                    break
                if index > 4:
                    self._fail(LinkError("malformed remaining length"))
                    return
            end = index + length
            if len(buffer) < end:
                return
            self._handle(buffer[0], bytes(buffer[index:end]))
            del buffer[:end]

    def connection_lost(self, exc: Exception | None) -> None:
        was_connected = self.connected
        self.connected = False
        self._transport = None
        error = LinkError(f"connection lost: {exc}" if exc else "connection closed")
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(error)
        for future in self._acks.values():
            if not future.done():
                future.set_exception(error)
                future.exception()  # a publisher that stopped waiting must not warn
        self._acks.clear()
        # A connection that never completed its handshake is reported by open_link instead.
        if self._on_lost is not None and was_connected:
            self._on_lost(self, exc)

    # -- packets --------------------------------------------------------------------------------

    def _handle(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == PUBLISH:
            qos = (first >> 1) & 0x03
            (topic_length,) = struct.unpack_from("!H", body)
            topic = body[2 : 2 + topic_length].decode()
            offset = 2 + topic_length
            if qos:
                (packet_id,) = struct.unpack_from("!H", body, offset)
                offset += 2
                self._send(_packet(PUBACK << 4, struct.pack("!H", packet_id)))
            self._on_message(topic, body[offset:])
        elif kind in (PUBACK, SUBACK):
            (packet_id,) = struct.unpack_from("!H", body)
            future = self._acks.pop(packet_id, None)
            if future is not None and not future.done():
                if kind == SUBACK and body[2:3] == b"\x80":
                    future.set_exception(LinkError("subscription refused"))
                else:
                    future.set_result(None)
        elif kind == CONNACK:
            code = body[1] if len(body) > 1 else 255
            if self._connack is not None and not self._connack.done():
                if code == 0:
                    self.connected = True
                    self._connack.set_result(None)
                else:
                    self._connack.set_exception(LinkError(f"refused: {CONNACK_REASONS.get(code, code)}"))
        # PINGRESP needs nothing: the broker would close us if it did not hear our PINGREQs.

    def _fail(self, error: Exception) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _send(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise LinkError("not connected")
        self._transport.write(data)
        self.last_sent = asyncio.get_running_loop().time()

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    # -- API ------------------------------------------------------------------------------------

    async def handshake(
        self, *, client_id: str, username: str | None, password: str | None, keepalive_s: int, will: LinkWill | None
    ) -> None:
        self._connack = asyncio.get_running_loop().create_future()
        self._send(
            connect_packet(
                client_id=client_id, username=username, password=password, keepalive_s=keepalive_s, will=will
            )
        )
        await self._connack

    def subscribe(self, topic_filter: str, qos: int = 1) -> asyncio.Future[None]:
        packet_id = self._packet_id()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks[packet_id] = future
        self._send(_packet(SUBSCRIBE << 4 | 0x02, struct.pack("!H", packet_id) + _string(topic_filter) + bytes([qos])))
        return future

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> asyncio.Future[None] | None:
        """Send; for QoS 1 returns a future resolved by the broker's PUBACK."""
        first = PUBLISH << 4 | qos << 1 | (1 if retain else 0)
        if qos == 0:
            self._send(_packet(first, _string(topic) + payload))
            return None
        packet_id = self._packet_id()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks[packet_id] = future
        self._send(_packet(first, _string(topic) + struct.pack("!H", packet_id) + payload))
        return future

    def ping(self) -> None:
        self._send(_packet(PINGREQ << 4, b""))

    def disconnect(self) -> None:
        """A clean DISCONNECT: the broker does not publish the will."""
        self.closing = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(_packet(DISCONNECT << 4, b""))
            self._transport.close()

    def lose(self) -> None:
        """The network fails under us (as in a broker restart): reported to on_lost like any loss."""
        if self._transport is not None:
            self._transport.abort()

    def drop(self) -> None:
        """Vanish without DISCONNECT (battery flat, out of coverage): the broker publishes the will."""
        self.closing = True
        if self._transport is not None:
            self._transport.abort()


async def open_link(
    host: str,
    port: int,
    *,
    client_id: str,
    username: str | None,
    password: str | None,
    keepalive_s: int = 60,
    will: LinkWill | None = None,
    on_message: Callable[[str, bytes], None],
    on_lost: Callable[[MqttLink, Exception | None], None] | None = None,
    timeout: float = 10.0,
) -> MqttLink:
    """Connect and complete the MQTT handshake; raises LinkError or OSError."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _, link = await loop.create_connection(lambda: MqttLink(on_message, on_lost), host, port)
        try:
            await link.handshake(
                client_id=client_id, username=username, password=password, keepalive_s=keepalive_s, will=will
            )
        except BaseException:
            link.closing = True
            link.drop()
            raise
    return link
