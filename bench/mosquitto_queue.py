"""Does Mosquitto drop QoS 1 messages queued for a gateway that is away or slow?

Two Mosquittos: the shipped config/mosquitto.conf (`project`), and the same config with its queue
and in-flight lines removed so that Mosquitto's defaults apply (`defaults`: max_queued_messages
1000, max_inflight_messages 20). For each, a subscriber with a persistent MQTT 5 session (clean
start off, session expiry 300 s) subscribes at QoS 1 to `{root}/bands/+/up/#`, as the gateway does;
then a publisher sends N QoS 1 messages to band uplink topics as fast as PUBACKs allow, and the
subscriber counts the distinct messages it gets until a few seconds of silence. Modes:

- `offline`: the subscriber disconnects before the burst and reconnects after it;
- `stalled`: it stays connected but holds every PUBACK until the burst is over (a gateway busy
  committing), then acks at full speed;
- `slow`: it stays connected and acks at a fixed rate until the burst is over, then at full speed.

    .venv/bin/python -m bench.mosquitto_queue [--messages N]

prints a table and writes bench/results/mosquitto_queue.json. tests/test_mosquitto_queue_limits.py
runs the same measurement at a small scale.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.topics import TopicScheme
from simulator.lab.mosquitto import MosquittoProcess

RESULTS = Path(__file__).parent / "results" / "mosquitto_queue.json"
CONFIGS = ("project", "defaults")
MODES = ("offline", "stalled", "slow")
# The lines of config/mosquitto.conf that `defaults` leaves out.
QUEUE_SETTINGS = ("max_queued_messages ", "max_queued_bytes ", "max_inflight_messages ")
# Mosquitto's notice when it drops a message for a client (2.0.x).
DROP_NOTICE = "Outgoing messages are being dropped"
SESSION_EXPIRY = 300
BANDS = 50


@dataclass(frozen=True)
class Result:
    config: str
    mode: str
    published: int
    delivered: int  # distinct messages the subscriber got
    duplicates: int  # deliveries beyond the first of a message
    publish_seconds: float  # first PUBLISH to last PUBACK
    seconds: float  # first PUBLISH to the last message delivered
    drop_logged: bool  # Mosquitto logged that it dropped messages

    @property
    def lost(self) -> int:
        return self.published - self.delivered


@contextmanager
def mosquitto(workdir: Path, config: str) -> Iterator[MosquittoProcess]:
    """A Mosquitto from the project config; `defaults` without its queue and in-flight lines."""
    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}")
    broker = MosquittoProcess(workdir)
    if config == "defaults":
        lines = broker.config_path.read_text().splitlines(keepends=True)
        broker.config_path.write_text("".join(line for line in lines if not line.startswith(QUEUE_SETTINGS)))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _client(
    broker: MosquittoProcess, client_id: str, protocol: MQTTProtocolVersion, *, manual_ack: bool = False
) -> paho.Client:
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        manual_ack=manual_ack,
    )
    # The service account, so the platform's listener (`service_port`): on the band listener every
    # client id becomes the username, and the subscriber and the publisher would kick each other.
    client.username_pw_set(broker.service_username, broker.service_password)
    return client


def _wait(event: threading.Event, what: str, timeout: float = 10.0) -> None:
    if not event.wait(timeout):
        raise TimeoutError(f"no {what} within {timeout} s")


class Subscriber:
    """The gateway's side: a persistent MQTT 5 session, QoS 1; counts distinct payloads.

    `ack_rate` None: paho acks each message at once. Otherwise PUBACKs are sent by a thread of our
    own, at most `ack_rate` a second (0: none at all) until `unthrottle()`, then at full speed.
    """

    def __init__(self, broker: MosquittoProcess, client_id: str, *, ack_rate: float | None = None) -> None:
        self.broker = broker
        self.client_id = client_id
        self.ack_rate = ack_rate
        self.received: set[int] = set()
        self.deliveries = 0
        self.last_delivery = time.monotonic()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._connect_error: str | None = None
        self._acks: queue.Queue[int | None] = queue.Queue()
        self._unthrottled = threading.Event()
        self._acker: threading.Thread | None = None
        self.client: paho.Client | None = None

    def connect(self) -> bool:
        """Connect with clean start off; whether the broker had kept the session."""
        client = _client(self.broker, self.client_id, MQTTProtocolVersion.MQTTv5, manual_ack=self.ack_rate is not None)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho ships it untyped
        props.SessionExpiryInterval = SESSION_EXPIRY
        self._connected.clear()
        self._session_present = False
        client.connect("127.0.0.1", self.broker.service_port, clean_start=False, properties=props)
        client.loop_start()
        self.client = client
        _wait(self._connected, "CONNACK")
        if self._connect_error:
            raise RuntimeError(f"subscriber refused: {self._connect_error}")
        if self.ack_rate is not None:
            self._acker = threading.Thread(target=self._ack_loop, args=(client,), daemon=True)
            self._acker.start()
        return self._session_present

    def subscribe(self, topic_filter: str) -> None:
        assert self.client is not None
        self._subscribed.clear()
        self.client.subscribe(topic_filter, qos=1)
        _wait(self._subscribed, "SUBACK")

    def disconnect(self) -> None:
        if self.client is None:
            return
        if self._acker is not None:
            self._acks.put(None)
            self._acker.join(10)
            self._acker = None
        self.client.disconnect()
        self.client.loop_stop()
        self.client = None

    def unthrottle(self) -> None:
        self._unthrottled.set()

    def wait_for_silence(self, silence: float, timeout: float = 600.0) -> None:
        """Until `silence` seconds have passed without a message, counted from now at the earliest."""
        waiting_since = time.monotonic()
        deadline = waiting_since + timeout
        while time.monotonic() < deadline:
            with self._lock:
                quiet = time.monotonic() - max(self.last_delivery, waiting_since)
            if quiet >= silence:
                return
            time.sleep(min(0.05, silence / 10))
        raise TimeoutError("the subscriber kept receiving")

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: paho.ConnectFlags, reason: ReasonCode, props: Any
    ) -> None:
        self._session_present = flags.session_present
        self._connect_error = None if not reason.is_failure else str(reason)
        self._connected.set()

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.add(int(message.payload))
            self.deliveries += 1
            self.last_delivery = time.monotonic()
        if self.ack_rate is not None:
            self._acks.put(message.mid)

    def _ack_loop(self, client: paho.Client) -> None:
        rate = self.ack_rate or 0.0
        while (mid := self._acks.get()) is not None:
            if not self._unthrottled.is_set():
                if rate <= 0:
                    self._unthrottled.wait()
                else:
                    self._unthrottled.wait(1 / rate)
            client.ack(mid, 1)


def publish(broker: MosquittoProcess, topics: TopicScheme, messages: int, window: int = 1000) -> float:
    """`messages` QoS 1 messages (payload: their number) with up to `window` unacked; the seconds."""
    client = _client(broker, f"bench-publisher-{os.getpid()}", MQTTProtocolVersion.MQTTv311)
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    free = threading.Semaphore(window)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.on_publish = lambda *_: free.release()
    client.connect("127.0.0.1", broker.service_port)
    client.loop_start()
    try:
        _wait(connected, "CONNACK")
        started = time.monotonic()
        for n in range(messages):
            if not free.acquire(timeout=30):
                raise TimeoutError(f"no PUBACK for 30 s after {n} messages")
            info = client.publish(topics.uplink(f"band-{n % BANDS:03d}", "telemetry"), str(n).encode(), qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish {n} failed: {paho.error_string(info.rc)}")
        for _ in range(window):  # every PUBACK is in when the whole window is free again
            if not free.acquire(timeout=30):
                raise TimeoutError("the last PUBACKs did not come")
        return time.monotonic() - started
    finally:
        client.disconnect()
        client.loop_stop()


def measure(
    workdir: Path,
    config: str,
    messages: int,
    *,
    mode: str = "offline",
    silence: float = 5.0,
    slow_ack_rate: float = 1000.0,
    topics: TopicScheme | None = None,
) -> Result:
    """One burst of `messages` at a fresh Mosquitto with `config`, for a subscriber in `mode`."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    topics = topics or TopicScheme("opaska/v1")
    ack_rate = {"offline": None, "stalled": 0.0, "slow": slow_ack_rate}[mode]
    with mosquitto(workdir, config) as broker:
        subscriber = Subscriber(broker, f"bench-gateway-{os.getpid()}", ack_rate=ack_rate)
        subscriber.connect()
        subscriber.subscribe(topics.uplink_filter)
        if mode == "offline":
            subscriber.disconnect()
        started = time.monotonic()
        publish_seconds = publish(broker, topics, messages)
        if mode == "offline" and not subscriber.connect():
            raise RuntimeError("Mosquitto did not keep the subscriber's session")
        subscriber.unthrottle()
        subscriber.wait_for_silence(silence)
        subscriber.disconnect()
        drop_logged = DROP_NOTICE in broker.log_path.read_text(errors="replace")
    return Result(
        config=config,
        mode=mode,
        published=messages,
        delivered=len(subscriber.received),
        duplicates=subscriber.deliveries - len(subscriber.received),
        publish_seconds=round(publish_seconds, 3),
        seconds=round(max(0.0, subscriber.last_delivery - started), 3),
        drop_logged=drop_logged,
    )


def mosquitto_version(binary: str) -> str:
    done = subprocess.run([binary, "-h"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def _table(results: list[Result]) -> str:
    rows = [("config", "mode", "published", "delivered", "lost", "dup", "publish s", "seconds", "drop logged")]
    rows += [
        (
            r.config,
            r.mode,
            str(r.published),
            str(r.delivered),
            str(r.lost),
            str(r.duplicates),
            f"{r.publish_seconds:.2f}",
            f"{r.seconds:.2f}",
            "yes" if r.drop_logged else "no",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--silence", type=float, default=5.0, help="seconds without a message that end a run")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--slow-ack-rate", type=float, default=1000.0, help="PUBACKs a second in `slow` mode")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="opaska-bench-mosquitto-") as tmp:
        for mode in modes:
            for config in CONFIGS:
                result = measure(
                    Path(tmp) / f"{config}-{mode}",
                    config,
                    args.messages,
                    mode=mode,
                    silence=args.silence,
                    slow_ack_rate=args.slow_ack_rate,
                )
                results.append(result)
                print(f"{config}/{mode}: {result.delivered} of {result.published} delivered", flush=True)
        version = mosquitto_version(MosquittoProcess(Path(tmp) / "version").binary)
    print()
    print(_table(results))
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mosquitto": version,
        "paho_mqtt": metadata.version("paho-mqtt"),
        "cpus": os.cpu_count(),
        "messages": args.messages,
        "silence_seconds": args.silence,
        "slow_ack_rate": args.slow_ack_rate,
        "results": [{**asdict(r), "lost": r.lost} for r in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
