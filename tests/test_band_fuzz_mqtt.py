"""Band payloads fuzzed at scale, over a real broker, through the real gateway (the embedded amqtt by
default, Mosquitto with OPASKA_TEST_MQTT_URL). tests/test_parser_fuzz.py feeds the judge alone;
this sends thousands of hostile messages the way they would come: from a band's own stolen
credentials (its own topics, all the ACL lets it reach) and from an account that reaches every
band topic (unknown bands, odd topic levels, unknown kinds), with broken bytes, broken JSON, JSON
nested thousands deep, wrong types, values past every bound, lone surrogates, clocks far off, and
payloads past the size limit.

What must hold: the gateway takes every message (received = sent), decides each one (accepted,
duplicate or rejected: the tally adds up), counts every rejection in
`opaska_band_messages_total{result="rejected_…"}`, keeps the dead-letter table bounded, and is still
there afterwards: the band's real SOS, pressed last, is stored and acknowledged (`alarm_received`).
No commit may fail on the way (`opaska_gateway_db_retries_total`).

Found by this test: on PostgreSQL a lone surrogate ("\\ud800") in an alarm's payload made every
commit of the alarm lane's batch fail, and the lane split the batch down to that one message,
retrying with backoff, while every band's alarms waited (more than a minute for these 3,000). The
judge now stores such text as U+FFFD, as it did NUL (gateway/judge.py:storable).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from core.mqtt.client import AsyncMqttClient
from gateway.payloads import MAX_PAYLOAD_BYTES
from gateway.runner import Gateway
from gateway.topics import TopicScheme
from registry.traffic.dead_letters import DeadLetter
from registry.traffic.messages import BandMessage
from simulator.band import RepeatPolicy
from tests.support.gateway import GatewayHarness, eventually
from tests.support.seed import seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]

MESSAGES = 3000
CHUNK = 250
# Kinds the protocol knows, and some it does not.
KINDS = ["sos", "fall", "fall_cancel", "heartbeat", "location", "battery", "worn", "x", "ż", "sos "]
# Deeper levels: the broker's ACL refuses them from a band (gateway/broker/acl.py), the platform's
# account reaches them.
DEEP_KINDS = ["../sos", "sos/extra", "sos/deeper/still"]


def _rejections() -> float:
    """Every rejection counted so far, whatever its kind and reason."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name != "opaska_band_messages":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("result", "").startswith("rejected_"):
                total += sample.value
    return total


async def _received(gateway: Gateway, count: int) -> bool:
    return gateway.received >= count


def _commit_retries() -> float:
    return REGISTRY.get_sample_value("opaska_gateway_db_retries_total") or 0.0


def _payload(rng: random.Random, serial: str) -> bytes:
    """One hostile payload, chosen and built by `rng`."""
    now = datetime.now(UTC)
    near: dict[str, object] = {"v": 1, "msg_id": f"m-{rng.getrandbits(40):x}", "ts": now.isoformat()}
    choice = rng.randrange(16)
    if choice == 0:
        return rng.randbytes(rng.randrange(0, 300))
    if choice == 1:
        return json.dumps(near).encode()[: rng.randrange(1, 40)]  # cut off
    if choice == 2:
        depth = rng.choice([100, 1000, 5000])
        return b"[" * depth + b"]" * depth
    if choice == 3:
        return b'{"a":' * 2000 + b"1" + b"}" * 2000
    if choice == 4:
        return json.dumps({**near, "pad": "x" * (MAX_PAYLOAD_BYTES + rng.randrange(1, 5000))}).encode()
    if choice == 5:
        return json.dumps({**near, "battery_pct": rng.choice([-1, 101, 10**30, "full", None, [], {}])}).encode()
    if choice == 6:
        return json.dumps({**near, "lat": rng.choice([91, -1e308, float("nan"), float("inf")]), "lon": 17.0}).encode()
    if choice == 7:
        return json.dumps({**near, "msg_id": rng.choice(["", "x" * 10_000, None, 12, "\ud800"])}).encode(
            errors="surrogatepass"
        )
    if choice == 8:
        return b'{"v": 1, "msg_id": "\\ud800\\udfff\\ud800", "ts": "' + now.isoformat().encode() + b'"}'
    if choice == 9:
        when = now + timedelta(days=rng.choice([-3650, -1, 1, 3650]))
        return json.dumps({**near, "ts": when.isoformat()}).encode()
    if choice == 10:
        return json.dumps({**near, "ts": rng.choice(["yesterday", "9999-99-99", 1e20, "", None])}).encode()
    if choice == 11:
        return json.dumps({**near, "band": rng.choice(["SOMEONE-ELSE", serial + "\x00", "", 5])}).encode()
    if choice == 12:
        return json.dumps({**near, "v": rng.choice([0, 2, 99, "1", None])}).encode()
    if choice == 13:
        return json.dumps({**near, "confidence": rng.choice([-5, 2.5, "high"]), "extra": {"nested": [1] * 50}}).encode()
    if choice == 14:
        return b"\xef\xbb\xbf" + json.dumps(near).encode()  # a BOM before the JSON
    return json.dumps(rng.choice([[], None, 1, "sos", True, {}])).encode()


def _topic(rng: random.Random, topics: TopicScheme, serial: str, own: bool) -> str:
    if own:
        # What the ACL lets a band publish: its own uplink and status.
        return topics.status(serial) if rng.random() < 0.1 else topics.uplink(serial, rng.choice(KINDS))
    band = rng.choice([serial, "NOBODY-1", "OP-" + "Z" * 60, "a b", "ĄĘ", "x" * 200])
    return rng.choice([topics.uplink(band, rng.choice(KINDS + DEEP_KINDS)), topics.status(band)])


async def test_thousands_of_hostile_messages_are_all_judged_and_a_real_alarm_still_arrives(
    harness: GatewayHarness,
) -> None:
    sessions, clock = harness.sessions, harness.clock
    seeded = await seed_resident_with_band(sessions, clock)
    rng = random.Random(23)
    protocol = "5" if harness.protocol == "5" else "3.1.1"
    rejected_before = _rejections()
    retries_before = _commit_retries()
    async with harness.gateway() as gateway:
        stolen = AsyncMqttClient(
            harness.endpoint,
            client_id=f"band-{seeded.serial}",
            protocol=protocol,
            username=seeded.serial,
            password=seeded.secret,
        )
        platform = AsyncMqttClient(
            harness.endpoint, client_id=f"{harness.client_prefix}-svc-{uuid.uuid4().hex[:6]}", protocol=protocol
        )
        await stolen.connect()
        await platform.connect()
        try:
            for number in range(MESSAGES):
                own = number % 3 != 0
                client = stolen if own else platform
                await client.publish(_topic(rng, harness.topics, seeded.serial, own), _payload(rng, seeded.serial))
                if number % CHUNK == CHUNK - 1:
                    # Paced: a broker with default queue limits (a test Mosquitto) would drop messages
                    # for a subscriber this far behind, and the test is of the gateway, not of them.
                    await eventually(lambda sent=number + 1: _received(gateway, sent), timeout=30, interval=0.05)
        finally:
            await stolen.disconnect()
            await platform.disconnect()

        async def all_judged() -> bool:
            return gateway.received >= MESSAGES and sum(gateway.tally.values()) == gateway.received

        await eventually(all_judged, timeout=30, interval=0.2)
        tally = dict(gateway.tally)
        assert gateway.received == MESSAGES, (
            f"received {gateway.received} of {MESSAGES}: the broker or gateway lost some"
        )
        # Every message decided once, and every rejection counted for people.
        assert sum(tally.values()) == MESSAGES, tally
        assert tally["rejected"] > MESSAGES // 2, tally
        assert _rejections() - rejected_before == tally["rejected"]
        # No commit failed on the way: nothing a band sends can hold up the alarm lane.
        assert _commit_retries() == retries_before

        # Still alive and listening: the band's real SOS is stored and acknowledged.
        band = harness.band(seeded.serial, seeded.secret, RepeatPolicy(3, 10))
        await band.start()
        try:
            received = await band.press("sos", timeout=30)
        finally:
            await band.stop()
        msg_id = band.sent[-1][1]
        assert received["msg_id"] == msg_id
        assert received["alarm_id"] > 0

        async def dead_letters_written() -> bool:
            async with sessions() as session:
                return bool((await session.execute(select(func.count()).select_from(DeadLetter))).scalar_one())

        await eventually(dead_letters_written)
    async with sessions() as session:
        stored = (await session.execute(select(BandMessage).where(BandMessage.message_id == msg_id))).scalar_one()
        assert stored.band_id == seeded.band_id
        kept = int((await session.execute(select(func.count()).select_from(DeadLetter))).scalar_one())
    print(f"band fuzz over MQTT: {MESSAGES} messages, {tally}, {kept} dead letters kept")
