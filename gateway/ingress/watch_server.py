"""The native watch-protocol receiver: an asyncio TCP server (Traccar's default port is 5093).

Only registered watches are served: the first frame's ID must name a band registered with adapter
`watch` (its IMEI or watch ID), or the connection is counted and closed; a later frame with
another ID closes it too. Nothing a client sends can hold the receiver: frames are bounded
(max_frame_bytes), a frame must complete within frame_timeout_s of its first byte (a 1 byte/s
client is cut off), a connection silent for idle_timeout_s is closed, at most max_connections are
open, and a client that does not read its replies is dropped once its write buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from core.settings import WatchSettings
from gateway.ingress.directory import DeviceDirectory
from gateway.ingress.metrics import INGRESS_MESSAGES, WATCH_CONNECTIONS
from gateway.ingress.watch_decoder import Decoded, decode
from gateway.ingress.watch_frames import Body, Frame, FrameError, WatchFramer, build_frame, parse_frame
from gateway.queues import Origin
from gateway.runner import Gateway
from gateway.stored import AlarmStored

log = logging.getLogger(__name__)

ADAPTER = "watch"
# Frames waiting for one connection's handler before it stops reading that socket.
MAX_PENDING_FRAMES = 32
# Unsent bytes to one client before it is taken for dead (it does not read).
MAX_WRITE_BUFFER = 64 * 1024


def _count(result: str) -> None:
    INGRESS_MESSAGES.labels(ADAPTER, result).inc()


class WatchConnection(asyncio.Protocol):
    def __init__(self, server: WatchServer) -> None:
        self._server = server
        self._framer = WatchFramer(server.settings.max_frame_bytes)
        self._transport: asyncio.Transport | None = None
        self._frames: deque[Body] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._paused = False
        self.closed = False
        self.connected_at = self.last_frame_at = time.monotonic()
        self.partial_since: float | None = None
        # Known once the first frame named a registered watch.
        self.device_id: str | None = None
        self.band: str | None = None
        self.manufacturer = "CS"
        self.indexed = False

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._server.admit(self):
            _count("refused_too_many_connections")
            transport.abort()
            self.closed = True

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        now = time.monotonic()
        completed = False
        for item in self._framer.feed(data):
            if isinstance(item, FrameError):
                _count(f"refused_{item.reason}")
                if item.reason == "too_large":
                    self.close("frame too large")
                    return
                continue
            self.last_frame_at, completed = now, True
            self._frames.append(item)
        # The frame timer runs from the first byte of the frame still unfinished.
        if not self._framer.pending:
            self.partial_since = None
        elif completed or self.partial_since is None:
            self.partial_since = now
        if self._frames and (self._worker is None or self._worker.done()):
            self._worker = asyncio.get_running_loop().create_task(self._work())
        if len(self._frames) >= MAX_PENDING_FRAMES and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._server.forget(self)
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()

    # --- frames ---------------------------------------------------------------------------

    async def _work(self) -> None:
        while self._frames and not self.closed:
            body = self._frames.popleft()
            if self._paused and len(self._frames) < MAX_PENDING_FRAMES // 2 and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
            try:
                await self._handle(body)
            except Exception:
                # Nothing a watch sends may stop the receiver: this connection goes, the rest stay.
                log.exception("watch receiver: a frame from %s failed; closing the connection", self.device_id)
                _count("refused_error")
                self.close("internal error")

    async def _handle(self, body: Body) -> None:
        frame = parse_frame(body)
        if isinstance(frame, FrameError):
            _count(f"refused_{frame.reason}")
            return
        if not await self._identify(frame):
            return
        if not frame.length_ok:
            # Counted, and the frame taken anyway: real watches miscount (see watch_frames).
            _count("length_mismatch")
        self.manufacturer, self.indexed = frame.manufacturer, frame.index is not None
        assert self.band is not None
        decoded = decode(frame, received_at=self._server.gateway_now(), battery_low_pct=self._server.battery_low_pct)
        self._deliver(frame, decoded)

    async def _identify(self, frame: Frame) -> bool:
        if self.device_id is not None:
            if frame.device_id != self.device_id:
                _count("refused_id_mismatch")
                log.warning("watch %s sent a frame as %s: connection closed", self.device_id, frame.device_id[:20])
                self.close("device id changed")
                return False
            return True
        band = await self._server.directory.band_for(frame.device_id)
        if band is None:
            _count("refused_unknown_device")
            self._server.log_unknown(frame.device_id)
            self.close("unknown device")
            return False
        self.device_id, self.band = frame.device_id, band
        self.manufacturer, self.indexed = frame.manufacturer, frame.index is not None
        self._server.identified(self)
        return True

    def _deliver(self, frame: Frame, decoded: Decoded) -> None:
        assert self.band is not None
        if decoded.ignored is not None:
            _count(f"ignored_{decoded.ignored}")
        else:
            _count("accepted")
        if decoded.reply is not None:
            self.send(decoded.reply, frame.index)
        alarms = [event for event in decoded.events if event.kind in ("sos", "fall")]
        waiting = {"left": len(alarms), "all_stored": True}

        def on_done(outcome: Any) -> None:
            waiting["left"] -= 1
            waiting["all_stored"] = waiting["all_stored"] and isinstance(outcome, AlarmStored)
            # The watch repeats an AL until answered: answer only once every alarm in it is stored.
            if waiting["left"] == 0 and waiting["all_stored"] and decoded.reply_after_commit and not self.closed:
                self.send(decoded.reply_after_commit, frame.index)

        source = {
            "adapter": ADAPTER,
            "device_id": frame.device_id,
            "frame": frame.content[:300].decode("ascii", "replace"),
        }
        gateway = self._server.gateway
        for event in decoded.events:
            is_alarm = event.kind in ("sos", "fall")
            origin = Origin(ADAPTER, on_done if is_alarm else None, event.problems, source if is_alarm else {})
            gateway.ingest(self.band, event.kind, event.payload, origin)
        if decoded.heard and not decoded.events:
            gateway.heard(self.band)

    # --- out ------------------------------------------------------------------------------

    def send(self, content: str, index: str | None = None) -> bool:
        if self.closed or self._transport is None or self.device_id is None:
            return False
        if self._transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            _count("refused_not_reading")
            self.close("client does not read")
            return False
        if index is None and self.indexed:
            index = "0001"  # as Traccar's encoder numbers commands to an indexed watch
        self._transport.write(build_frame(self.manufacturer, self.device_id, index, content))
        return True

    def close(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        log.debug("watch connection %s closed: %s", self.device_id, why)
        if self._transport is not None:
            self._transport.abort()


class WatchServer:
    def __init__(
        self,
        settings: WatchSettings,
        gateway: Gateway,
        directory: DeviceDirectory,
        *,
        battery_low_pct: int = 20,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.directory = directory
        self.battery_low_pct = battery_low_pct
        self._connections: set[WatchConnection] = set()
        self._by_band: dict[str, WatchConnection] = {}
        self._server: asyncio.Server | None = None
        self._unknown_logged: dict[str, float] = {}
        gateway.route_downlink(self.downlink)

    def gateway_now(self) -> Any:
        return self.gateway.now()

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: WatchConnection(self),
            self.settings.host,
            self.settings.port,
            # Room for a reconnect storm: every watch of a centre dials in again after an outage.
            backlog=4096,
            reuse_address=True,
        )
        log.info("watch receiver listening on %s:%d", self.settings.host, self.port)

    async def run(self) -> None:
        """Serve until cancelled, closing idle and too slow connections."""
        if self._server is None:
            await self.start()
        period = max(0.05, min(1.0, self.settings.frame_timeout_s / 4, self.settings.idle_timeout_s / 4))
        try:
            while True:
                await asyncio.sleep(period)
                self._sweep(time.monotonic())
        finally:
            await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for connection in list(self._connections):
                connection.close("shutting down")
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def _sweep(self, now: float) -> None:
        for connection in list(self._connections):
            if connection.partial_since is not None and now - connection.partial_since > self.settings.frame_timeout_s:
                _count("refused_slow")
                connection.close("frame not finished in time")
            elif connection.band is None and now - connection.connected_at > self.settings.frame_timeout_s:
                # A watch names itself in its first frame, at once: a silent stranger only holds a slot.
                _count("refused_unidentified")
                connection.close("no frame naming a registered watch")
            elif now - connection.last_frame_at > self.settings.idle_timeout_s:
                _count("closed_idle")
                connection.close("idle")

    def admit(self, connection: WatchConnection) -> bool:
        if len(self._connections) >= self.settings.max_connections:
            return False
        self._connections.add(connection)
        WATCH_CONNECTIONS.set(len(self._connections))
        return True

    def forget(self, connection: WatchConnection) -> None:
        self._connections.discard(connection)
        if connection.band is not None and self._by_band.get(connection.band) is connection:
            del self._by_band[connection.band]
        WATCH_CONNECTIONS.set(len(self._connections))

    def identified(self, connection: WatchConnection) -> None:
        assert connection.band is not None
        older = self._by_band.get(connection.band)
        if older is not None and older is not connection:
            # A watch that reconnects leaves its old connection half-open: the newest one speaks for it.
            older.close("replaced by a new connection")
        self._by_band[connection.band] = connection
        if self.settings.strap_alarm:
            # Strap-removal alarms are off on many watches until told: REMOVE,1 turns them on.
            connection.send("REMOVE,1")

    def log_unknown(self, device_id: str) -> None:
        now = time.monotonic()
        if now - self._unknown_logged.get(device_id, -1e9) > 60:
            if len(self._unknown_logged) > 10_000:
                self._unknown_logged.clear()
            self._unknown_logged[device_id] = now
            log.warning(
                "watch with unregistered ID %s refused (register it: opaska band register --adapter watch)",
                device_id[:20],
            )

    # --- commands -------------------------------------------------------------------------

    def send_command(self, band: str, content: str) -> bool:
        """Send a command to a connected watch: CR (locate now), REMOVE,1, UPLOAD,<seconds> ...
        False when the watch is not connected (commands are not queued: the watch asks nothing)."""
        connection = self._by_band.get(band)
        return connection is not None and connection.send(content)

    def downlink(self, band: str, kind: str, payload: dict[str, Any]) -> bool:
        """The gateway's downlink outbox, in the watch's words: `locate` (opaska band locate) is CR,
        `config` (opaska band config) sets the report interval to the band's heartbeat interval.
        True when delivered to a connected watch; other kinds mean nothing to a watch and are
        dropped for it (alarm_claimed: a watch has no "help is coming" signal)."""
        if band not in self._by_band:
            return False
        if kind == "locate":
            return self.locate(band)
        if kind == "config" and isinstance(payload.get("heartbeat_interval_s"), int):
            return self.set_upload_interval(band, payload["heartbeat_interval_s"])
        return True

    def locate(self, band: str) -> bool:
        return self.send_command(band, "CR")

    def set_upload_interval(self, band: str, seconds: int) -> bool:
        return self.send_command(band, f"UPLOAD,{int(seconds)}")
