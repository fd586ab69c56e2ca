"""Random topics and payloads at the real gateway: it keeps running, and every message it receives
ends as exactly one of accepted, duplicate or rejected."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from gateway.payloads import PRIORITY_KINDS, TELEMETRY_MODELS
from gateway.topics import TopicScheme
from tests.support.gateway import GatewayHarness
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio

# What MQTT brokers accept in a topic: UTF-8 without control characters, surrogates or non-characters
# (Mosquitto disconnects a client that sends one), and no wildcards in a topic name.
SEGMENT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn"), blacklist_characters="+#/"), min_size=1, max_size=12
)
KINDS = st.one_of(st.sampled_from(sorted({*PRIORITY_KINDS, *TELEMETRY_MODELS})), SEGMENT)


def _topics(scheme: TopicScheme, serials: list[str]) -> st.SearchStrategy[str]:
    band = st.one_of(st.sampled_from(serials), SEGMENT)
    return st.one_of(
        st.builds(scheme.uplink, band, KINDS),
        st.builds(scheme.status, band),
        st.builds(lambda b, k, extra: f"{scheme.uplink(b, k)}/{extra}", band, KINDS, SEGMENT),
        st.builds(lambda extra: f"{scheme.root}/bands/{extra}", SEGMENT),
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _timestamp(offset_s: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


PLAUSIBLE = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 1, 1, 2, "1"]),
        # Also ids no database takes: lone surrogates, NUL (PostgreSQL refuses it), too long.
        "msg_id": st.one_of(st.text(alphabet="abc123-", min_size=1, max_size=10), st.integers(), st.text(max_size=70)),
        "ts": st.one_of(st.floats(-1e5, 1e5, allow_nan=False).map(_timestamp), st.text(max_size=10)),
    },
    optional={
        "battery": st.one_of(st.integers(-5, 105), st.text(max_size=3)),
        "charging": st.booleans(),
        "worn": st.one_of(st.booleans(), st.none()),
        "state": st.sampled_from(["removed", "on", "off"]),
        "lat": st.floats(-100, 100, allow_nan=False),
        "lon": st.floats(-200, 200, allow_nan=False),
        "online": st.booleans(),
        "band": st.text(max_size=6),
    },
)
PAYLOADS = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    PLAUSIBLE.map(lambda value: json.dumps(value).encode()),
    st.just(b"{" * 5000),
    # Nesting deep enough to exhaust recursion in anything that walks it naively.
    st.integers(20, 1000).map(lambda depth: b'{"v":1,"msg_id":"deep","a":' + b"[" * depth + b"]" * depth + b"}"),
)


def _valid(scheme: TopicScheme, serials: list[str]) -> st.SearchStrategy[tuple[str, bytes]]:
    """Well-formed reports and alarms from registered bands, so acceptance is exercised as much as refusal."""
    fields_by_kind: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "heartbeat": st.fixed_dictionaries({"battery": st.integers(0, 100), "worn": st.booleans()}),
        "strap": st.fixed_dictionaries({"state": st.sampled_from(["removed", "on"])}),
        "battery_low": st.fixed_dictionaries({"battery": st.integers(0, 100)}),
        "location": st.fixed_dictionaries({"lat": st.floats(-90, 90), "lon": st.floats(-180, 180)}),
        "checkin": st.just({}),
        "sos": st.just({}),
        "fall": st.fixed_dictionaries({"confidence": st.floats(0, 1)}),
        "fall_cancel": st.just({}),
    }

    def build(serial: str, kind: str, fields: dict[str, Any], msg_id: str) -> tuple[str, bytes]:
        body = {"v": 1, "msg_id": msg_id, "ts": datetime.now(UTC).isoformat(), **fields}
        return scheme.uplink(serial, kind), json.dumps(body).encode()

    return st.sampled_from(sorted(fields_by_kind)).flatmap(
        lambda kind: st.builds(
            build,
            st.sampled_from(serials),
            st.just(kind),
            fields_by_kind[kind],
            # A small id space: some messages repeat, as a band that missed its ack does.
            st.integers(0, 200).map(lambda n: f"m{n}"),
        )
    )


def _publish_all(client: paho.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


async def test_random_input_is_always_accounted_for(harness: GatewayHarness) -> None:
    serials = [(await seed_resident_with_band(harness.sessions, harness.clock)).serial for _ in range(2)]
    subscriptions = [harness.topics.uplink_filter, harness.topics.status_filter]
    published: dict[str, int] = {"matching": 0}
    async with harness.gateway() as gateway:
        client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"{harness.client_prefix}-fz")
        if harness.endpoint.username:
            client.username_pw_set(harness.endpoint.username, harness.endpoint.password)
        await asyncio.to_thread(client.connect, harness.endpoint.host, harness.endpoint.port)
        client.loop_start()

        any_message = st.tuples(_topics(harness.topics, serials), PAYLOADS)

        @settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(st.lists(st.one_of(any_message, _valid(harness.topics, serials)), min_size=1, max_size=8))
        def publish_batch(messages: list[tuple[str, bytes]]) -> None:
            _publish_all(client, messages)
            published["matching"] += sum(
                1 for topic, _ in messages if any(paho.topic_matches_sub(sub, topic) for sub in subscriptions)
            )

        try:
            # Hypothesis drives a blocking client from a thread; the gateway (and the embedded
            # broker) keep running on this loop meanwhile.
            await asyncio.to_thread(publish_batch)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if gateway.received == published["matching"] and sum(gateway.tally.values()) == gateway.received:
                    break
                await asyncio.sleep(0.1)
        finally:
            client.loop_stop()
            client.disconnect()
        tally: dict[str, Any] = dict(gateway.tally)
        assert gateway.received == published["matching"], tally
        assert gateway.received == tally.get("accepted", 0) + tally.get("duplicate", 0) + tally.get("rejected", 0)
        assert gateway.received > 0

        # Still alive and still right: a plain SOS goes through after all that.
        seeded = await seed_resident_with_band(harness.sessions, harness.clock, serial=f"B-{uuid.uuid4().hex[:6]}")
        band = harness.band(seeded.serial, seeded.secret)
        await band.start()
        try:
            assert (await band.press("sos", timeout=15))["alarm_id"] > 0
        finally:
            await band.stop()
