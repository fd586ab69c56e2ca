"""The native watch-protocol receiver, with frames of real watches (tests/data/traccar_watch_frames.py,
from Traccar's WatchProtocolDecoderTest) over a real TCP socket, into the real gateway and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from core.settings import BandSettings
from gateway.ingress.watch_decoder import Decoded, decode, status_bits
from gateway.ingress.watch_frames import Body, Frame, FrameError, WatchFramer, build_frame, parse_frame
from gateway.judge import TelemetryMessage, judge
from gateway.topics import TopicScheme
from registry.model import Band
from registry.traffic import downlinks as downlink
from registry.traffic.messages import BandMessage
from tests.data import traccar_watch_frames as frames
from tests.support.adapters import (
    AdapterBand,
    WatchClient,
    ingress_count,
    register_adapter_band,
    running_watch_server,
)
from tests.support.gateway import GatewayHarness, eventually

RECEIVED = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _frame(raw: bytes) -> Frame:
    (body,) = WatchFramer().feed(raw)
    assert isinstance(body, Body)
    frame = parse_frame(body)
    assert isinstance(frame, Frame)
    return frame


def _decoded(raw: bytes) -> Decoded:
    return decode(_frame(raw), received_at=RECEIVED)


def _events(decoded: Decoded) -> list[tuple[str, dict[str, Any]]]:
    return [(event.kind, {k: v for k, v in event.payload.items() if k not in ("v", "ts")}) for event in decoded.events]


# ---- framing and decoding, no I/O -----------------------------------------------------------


def test_frames_of_real_watches_parse() -> None:
    zj = _frame(frames.ZJ_AL_STRAP)
    assert (zj.manufacturer, zj.device_id, zj.index, zj.type) == ("ZJ", "014111001332708", "0075", "AL")
    assert zj.length_ok
    lk = _frame(frames.LK_LYING_LENGTH)
    assert (lk.device_id, lk.type, lk.declared_length, len(lk.content), lk.length_ok) == (
        "9081000548",
        "LK",
        9,
        8,
        False,
    )
    # A real capture: LEN counts the content as sent, escapes included.
    voice = _frame(frames.JXTK_ESCAPED)
    assert (voice.type, voice.index, voice.escapes, voice.length_ok) == ("JXTK", "0039", 3, True)
    payload = voice.content.split(b",", 4)[4]
    assert b"[" in payload
    assert b"]" in payload
    assert b"*" in payload


Expected = dict[bytes, tuple[list[tuple[str, dict[str, Any]]], str | None, str | None]]


def _expected() -> Expected:
    """Each frame's band messages, exactly, and the reply it gets (at once, or after the commit)."""
    return {
        frames.UD2_VALID: (
            [
                (
                    "location",
                    {
                        "msg_id": "w:loc:220322055105",
                        "lat": 22.761162,
                        "lon": 114.360192,
                        "source": "gps",
                        "reason": "periodic",
                    },
                ),
                ("heartbeat", {"msg_id": "w:hb:220322055105", "battery": 64}),
            ],
            None,
            None,
        ),
        frames.AL_SOS: (
            [
                ("sos", {"msg_id": "w:sos:191227094744", "battery": 81}),
                ("heartbeat", {"msg_id": "w:hb:191227094744", "battery": 81}),
            ],
            None,
            "AL",
        ),
        frames.ZJ_AL_STRAP: (
            [
                ("strap", {"msg_id": "w:strap:180404052156", "state": "removed"}),
                (
                    "location",
                    {
                        "msg_id": "w:loc:180404052156",
                        "lat": 22.536207,
                        "lon": 113.938673,
                        "source": "gps",
                        "reason": "alarm",
                    },
                ),
                ("heartbeat", {"msg_id": "w:hb:180404052156", "battery": 82}),
            ],
            "AL",
            None,
        ),
        frames.AL_FALL: (
            [
                (
                    "fall",
                    {
                        "msg_id": "w:fall:170823095346",
                        "battery": 44,
                        "location": {"lat": 47.08395, "lon": 15.482185, "source": "gps"},
                    },
                ),
                (
                    "location",
                    {
                        "msg_id": "w:loc:170823095346",
                        "lat": 47.08395,
                        "lon": 15.482185,
                        "source": "gps",
                        "reason": "alarm",
                    },
                ),
                ("heartbeat", {"msg_id": "w:hb:170823095346", "battery": 44}),
            ],
            None,
            "AL",
        ),
        frames.AL_LOW_BATTERY: (
            [
                ("battery_low", {"msg_id": "w:battery:140422134652", "battery": 90}),
                (
                    "location",
                    {
                        "msg_id": "w:loc:140422134652",
                        "lat": 22.571707,
                        "lon": 113.8613968,
                        "source": "gps",
                        "reason": "alarm",
                    },
                ),
                ("heartbeat", {"msg_id": "w:hb:140422134652", "battery": 90}),
            ],
            "AL",
            None,
        ),
        frames.AL_NO_BITS: (
            [
                ("sos", {"msg_id": "w:sos:170112145602", "battery": 80}),
                ("heartbeat", {"msg_id": "w:hb:170112145602", "battery": 80}),
            ],
            None,
            "AL",
        ),
        frames.LK_LYING_LENGTH: ([], "LK", None),
        frames.LK_BARE: ([], "LK", None),
        frames.LK_BATTERY: (
            [("heartbeat", {"msg_id": f"w:lk:{int(RECEIVED.timestamp())}", "battery": 100})],
            "LK",
            None,
        ),
        frames.UD2_NO_FIX: ([("heartbeat", {"msg_id": "w:hb:160721231601", "battery": 34})], None, None),
        frames.TKQ: ([], "TKQ", None),
        frames.ZJ_UD: ([("heartbeat", {"msg_id": "w:hb:180307020827", "battery": 19})], None, None),
        frames.JXTK_ESCAPED: ([], "JXTKR,1", None),
        frames.INIT_OURS: ([], "INIT,1", None),
    }


def test_every_frame_becomes_the_normalised_band_messages() -> None:
    for raw, (events, reply, after_commit) in _expected().items():
        decoded = _decoded(raw)
        assert _events(decoded) == events, raw[:40]
        assert (decoded.reply, decoded.reply_after_commit) == (reply, after_commit), raw[:40]
    assert _decoded(frames.AL_NO_BITS).events[0].problems == (
        "alarm frame AL without a known status bit (status 00000000)",
    )
    assert _decoded(frames.AL_SOS).events[0].payload["ts"] == "2019-12-27T09:47:44+00:00"


def test_every_normalised_message_passes_the_mqtt_schema() -> None:
    """The adapter speaks the MQTT protocol's words: the same judge takes each of them."""
    topics = TopicScheme("t/opaska/v1")
    for raw in (frames.UD2_VALID, frames.ZJ_AL_STRAP, frames.AL_LOW_BATTERY, frames.LK_BATTERY, frames.AL_FALL):
        for event in _decoded(raw).events:
            import json

            verdict = judge(topics, topics.uplink("W-1", event.kind), json.dumps(event.payload).encode(), RECEIVED)
            if event.kind in ("sos", "fall"):
                assert not getattr(verdict, "malformed", True)
            else:
                assert isinstance(verdict, TelemetryMessage), (event, verdict)


@pytest.mark.parametrize("bit", range(32))
def test_each_status_bit(bit: int) -> None:
    expected = {16: ["sos"], 21: ["fall"], 22: ["fall"], 20: ["strap"], 0: ["battery_low"], 17: ["battery_low"]}
    assert status_bits(1 << bit) == expected.get(bit, [])


def test_a_position_report_carries_alarms_too() -> None:
    sos_in_ud = frames.UD2_VALID.replace(b",00000008,", b",00010008,")
    decoded = _decoded(sos_in_ud)
    assert [e.kind for e in decoded.events] == ["sos", "location", "heartbeat"]
    assert (decoded.reply, decoded.reply_after_commit) == (None, None)  # UD is never answered


def test_an_alarm_frame_that_is_no_call_for_help_raises_nothing() -> None:
    # AL_NO_BITS with bit 18 (geofence exit, in Traccar's reading) instead of none.
    geofence = frames.AL_NO_BITS.replace(b",00000000,", b",00040000,")
    decoded = _decoded(geofence)
    assert [e.kind for e in decoded.events] == ["heartbeat"]
    assert (decoded.reply, decoded.reply_after_commit) == ("AL", None)


def test_sos_comes_first_when_bits_combine() -> None:
    every = (1 << 0) | (1 << 16) | (1 << 20) | (1 << 21)
    assert status_bits(every) == ["sos", "fall", "strap", "battery_low"]


def test_bad_input_is_refused_with_a_reason() -> None:
    framer = WatchFramer(max_frame_bytes=64)
    out = framer.feed(b"noise[SG*1*0002*LK}\x09]" + b"[SG*" + b"x" * 100 + b"][SG*8800000015*FFFF*LK]")
    reasons = [item.reason if isinstance(item, FrameError) else "frame" for item in out]
    assert reasons == ["garbage", "bad_escape", "too_large", "frame"]
    (frame,) = [item for item in out if isinstance(item, Body)]
    parsed = parse_frame(frame)
    assert isinstance(parsed, Frame)
    assert not parsed.length_ok
    # An escape cut in half by TCP, and a frame cut off by a new one.
    assert framer.feed(b"[SG*8800000015*0003*L}") == []
    (whole,) = framer.feed(b"\x05K]")
    assert isinstance(whole, Body)
    assert whole.data.endswith(b"L*K")
    assert [getattr(x, "reason", None) for x in framer.feed(b"[SG*1*0002*L[SG*2*0002*LK]")] == ["unterminated", None]
    assert [getattr(x, "reason", "frame") for x in framer.feed(b"[SG*1*0002*LK}]")] == ["bad_escape"]
    for body in (b"SG*1", b"S*1*0002*LK", b"SG*1*zz*LK", b"SG*1*000*LK", b"SG*ID WITH SPACE*0002*LK"):
        assert isinstance(parse_frame(body), FrameError), body


def test_replies_are_worded_as_traccar_words_them() -> None:
    assert build_frame("SG", "8800000015", None, "LK") == b"[SG*8800000015*0002*LK]"
    assert build_frame("ZJ", "014111001332708", "0075", "AL") == b"[ZJ*014111001332708*0075*0002*AL]"
    assert build_frame("3G", "4700186508", None, "UPLOAD,300") == b"[3G*4700186508*000a*UPLOAD,300]"


# ---- over a real socket, into the gateway and the database ----------------------------------


async def _alarms(sessions: async_sessionmaker[AsyncSession], band: AdapterBand) -> list[Alarm]:
    async with sessions() as session:
        return list((await session.execute(select(Alarm).where(Alarm.band_id == band.band_id))).scalars())


async def _band(sessions: async_sessionmaker[AsyncSession], band: AdapterBand) -> Band:
    async with sessions() as session:
        found = await session.get(Band, band.band_id)
        assert found is not None
        return found


async def _messages(sessions: async_sessionmaker[AsyncSession], band: AdapterBand) -> list[BandMessage]:
    async with sessions() as session:
        return list((await session.execute(select(BandMessage).where(BandMessage.band_id == band.band_id))).scalars())


@pytest.mark.asyncio
async def test_real_frames_over_tcp_raise_alarms_and_get_their_replies(harness: GatewayHarness) -> None:
    sessions, clock = harness.sessions, harness.clock
    ids = {
        "sos": "8809008845",
        "fall": "8308373902",
        "strap": "014111001332708",
        "battery": "8800000015",
        "nobits": "9051004074",
        "ud": "9031853319",
        "lk": "4700186508",
    }
    bands = {
        name: await register_adapter_band(sessions, clock, adapter="watch", device_id=i) for name, i in ids.items()
    }
    async with harness.gateway() as gateway, running_watch_server(gateway, sessions, strap_alarm=True) as server:
        clients = {name: await WatchClient.connect(server.port) for name in ids}
        try:
            sent = {
                "sos": frames.AL_SOS,
                "fall": frames.AL_FALL,
                "strap": frames.ZJ_AL_STRAP,
                "battery": frames.AL_LOW_BATTERY,
                "nobits": frames.AL_NO_BITS,
                "ud": frames.UD2_VALID,
                "lk": frames.LK_BATTERY,
            }
            for name, raw in sent.items():
                await clients[name].send(raw)
            expected_replies = {
                "sos": b"[3G*8809008845*0002*AL]",
                "fall": b"[3G*8308373902*0002*AL]",
                "strap": b"[ZJ*014111001332708*0075*0002*AL]",
                "battery": b"[SG*8800000015*0002*AL]",
                "nobits": b"[SG*9051004074*0002*AL]",
                "lk": b"[3G*4700186508*0002*LK]",
            }
            remove = {name: f"[{raw[1:3].decode()}*{ids[name]}*".encode() for name, raw in sent.items()}
            for name, reply in expected_replies.items():
                # REMOVE,1 first: strap-removal alarms turned on as the watch is recognised.
                first = await clients[name].reply()
                indexed = b"*0001*0008*" if name == "strap" else b"*0008*"
                assert first == remove[name][:-1] + indexed + b"REMOVE,1]", name
                assert await clients[name].reply() == reply, name
            await eventually(lambda: _has_alarm(sessions, bands["nobits"]))
            assert [a.kind for a in await _alarms(sessions, bands["sos"])] == ["sos"]
            assert [a.kind for a in await _alarms(sessions, bands["fall"])] == ["fall"]
            assert [a.kind for a in await _alarms(sessions, bands["nobits"])] == ["sos"]
            assert await _alarms(sessions, bands["strap"]) == []
            assert await _alarms(sessions, bands["battery"]) == []
            (sos_message,) = [m for m in await _messages(sessions, bands["sos"]) if m.kind == "sos"]
            assert sos_message.message_id == "w:sos:191227094744"
            assert sos_message.payload["source"]["adapter"] == "watch"
            assert sos_message.clock_suspect
            assert not sos_message.malformed
            (flagged,) = [m for m in await _messages(sessions, bands["nobits"]) if m.kind == "sos"]
            assert flagged.malformed

            async def presence_written() -> bool:
                ud = await _band(sessions, bands["ud"])
                strap = await _band(sessions, bands["strap"])
                lk = await _band(sessions, bands["lk"])
                return ud.battery_pct == 64 and strap.worn is False and lk.battery_pct == 100

            await eventually(presence_written)
            ud_band = await _band(sessions, bands["ud"])
            assert ud_band.last_location is not None
            assert (ud_band.last_location["lat"], ud_band.last_location["lon"]) == (22.761162, 114.360192)
            assert (await _band(sessions, bands["battery"])).battery_pct == 90
            # The watch repeats an alarm it got no answer to: the same frame is recognised, answered
            # again, and raises nothing new.
            await clients["sos"].send(frames.AL_SOS)
            assert await clients["sos"].reply() == b"[3G*8809008845*0002*AL]"
            assert len(await _alarms(sessions, bands["sos"])) == 1
            # Commands to a connected watch.
            assert server.locate(bands["lk"].serial)
            assert await clients["lk"].reply() == b"[3G*4700186508*0002*CR]"
            assert server.set_upload_interval(bands["lk"].serial, 300)
            assert await clients["lk"].reply() == b"[3G*4700186508*000a*UPLOAD,300]"
            assert not server.locate(bands["ud"].serial + "-not-connected")
            # `opaska band locate` and `opaska band config` go through the downlink outbox: to a
            # watch they are its own commands.
            async with sessions() as session, session.begin():
                row = await session.get(Band, bands["lk"].band_id)
                assert row is not None
                row.heartbeat_interval_s = 600
                await downlink.request_location(session, clock, band=row)
                await downlink.push_config(session, clock, band=row, defaults=BandSettings())
            assert await clients["lk"].reply() == b"[3G*4700186508*0002*CR]"
            assert await clients["lk"].reply() == b"[3G*4700186508*000a*UPLOAD,600]"
        finally:
            for client in clients.values():
                await client.close()


@pytest.mark.asyncio
async def test_every_frame_over_tcp_gets_its_reply_and_its_band_messages(harness: GatewayHarness) -> None:
    """Every fixture frame, byte for byte, on a real socket: the exact reply and the exact band
    messages the gateway is handed (a spy on Gateway.ingest, which then does its real work)."""
    expected = _expected()
    devices = {_frame(raw).device_id for raw in expected}
    for device_id in devices:
        await register_adapter_band(harness.sessions, harness.clock, adapter="watch", device_id=device_id)
    async with harness.gateway() as gateway, running_watch_server(gateway, harness.sessions) as server:
        handed: list[tuple[str, dict[str, Any]]] = []
        real_ingest = gateway.ingest

        def spy(band: str, kind: str, payload: dict[str, Any], origin: Any) -> None:
            handed.append((kind, payload))
            real_ingest(band, kind, payload, origin)

        gateway.ingest = spy  # type: ignore[method-assign]
        clients = {device_id: await WatchClient.connect(server.port) for device_id in devices}
        try:
            for raw, (events, reply, after_commit) in expected.items():
                frame = _frame(raw)
                before = len(handed)
                await clients[frame.device_id].send(raw)
                answer = reply or after_commit
                if answer is not None:
                    index = f"{frame.index}*" if frame.index else ""
                    head = f"[{frame.manufacturer}*{frame.device_id}*{index}{len(answer):04x}*"
                    assert await clients[frame.device_id].reply() == f"{head}{answer}]".encode(), raw[:40]

                async def handed_all(before: int = before, count: int = len(events)) -> bool:
                    return len(handed) - before >= count

                await eventually(handed_all)
                got = [
                    (kind, {k: v for k, v in payload.items() if k not in ("v", "ts")})
                    for kind, payload in handed[before:]
                ]
                if raw == frames.LK_BATTERY:  # its id is the time of receipt
                    got = [(kind, {**p, "msg_id": events[0][1]["msg_id"]}) for kind, p in got]
                assert got == events, raw[:40]
        finally:
            for client in clients.values():
                await client.close()


async def _has_alarm(sessions: async_sessionmaker[AsyncSession], band: AdapterBand) -> bool:
    return bool(await _alarms(sessions, band))


@pytest.mark.asyncio
async def test_unknown_watch_is_counted_and_refused(harness: GatewayHarness) -> None:
    await register_adapter_band(harness.sessions, harness.clock, adapter="watch", device_id="8800000015")
    before = ingress_count("watch", "refused_unknown_device")
    async with harness.gateway() as gateway, running_watch_server(gateway, harness.sessions) as server:
        client = await WatchClient.connect(server.port)
        await client.send(frames.ALCUSTOMER1_BAD_IMEI)
        assert await client.closed_by_server()
        assert ingress_count("watch", "refused_unknown_device") == before + 1
        # A registered watch that then speaks as another is cut off too.
        other = await WatchClient.connect(server.port)
        await other.send(frames.LK_BARE)
        assert await other.reply() == b"[SG*8800000015*0002*LK]"
        await other.send(frames.LK_LYING_LENGTH)
        assert await other.closed_by_server()


@pytest.mark.asyncio
async def test_bad_input_never_stalls_the_receiver(harness: GatewayHarness) -> None:
    """A 1 byte/s client, garbage, lying lengths and broken escapes: each counted, each client
    handled on its own, and a watch's SOS answered meanwhile."""
    sessions = harness.sessions
    sos_band = await register_adapter_band(sessions, harness.clock, adapter="watch", device_id="8809008845")
    await register_adapter_band(sessions, harness.clock, adapter="watch", device_id="8800000015")
    await register_adapter_band(sessions, harness.clock, adapter="watch", device_id="4700186508")
    slow_before = ingress_count("watch", "refused_slow")
    escape_before = ingress_count("watch", "refused_bad_escape")
    async with (
        harness.gateway() as gateway,
        running_watch_server(gateway, sessions, frame_timeout_s=1.5, max_frame_bytes=4096) as server,
    ):
        slow = await WatchClient.connect(server.port)
        messy = await WatchClient.connect(server.port)
        silent = await WatchClient.connect(server.port)
        unidentified_before = ingress_count("watch", "refused_unidentified")
        # The slow one is a registered watch that then sends its next frame at 1 byte/s.
        await slow.send(frames.LK_BATTERY)
        assert await slow.reply() == b"[3G*4700186508*0002*LK]"

        async def trickle() -> None:
            for byte in frames.LK_BATTERY:
                await slow.send(bytes([byte]))
                await asyncio.sleep(1.0)

        trickling = asyncio.create_task(trickle())
        # Garbage, a broken escape, a lying length and an escape split across two writes: the
        # good frames among them are still answered.
        await messy.send(b"\r\nGET / HTTP/1.1\r\n[SG*8800000015*0002*L}\x07]")
        await messy.send(b"[SG*8800000015*FFFF*LK][SG*8800000015*0002*L")
        assert await messy.reply() == b"[SG*8800000015*0002*LK]"
        await messy.send(b"K]")
        assert await messy.reply() == b"[SG*8800000015*0002*LK]"
        sos = await WatchClient.connect(server.port)
        started = asyncio.get_running_loop().time()
        await sos.send(frames.AL_SOS)
        assert await sos.reply() == b"[3G*8809008845*0002*AL]"
        assert asyncio.get_running_loop().time() - started < 2
        assert len(await _alarms(sessions, sos_band)) == 1
        assert await slow.closed_by_server(timeout=5)
        trickling.cancel()
        assert ingress_count("watch", "refused_slow") == slow_before + 1
        # A connection that never names a watch holds its slot no longer than a slow frame would.
        assert await silent.closed_by_server()
        assert ingress_count("watch", "refused_unidentified") == unidentified_before + 1
        assert ingress_count("watch", "refused_bad_escape") == escape_before + 1
        # A frame longer than the bound closes only its own connection.
        big = await WatchClient.connect(server.port)
        await big.send(b"[SG*8800000015*0002*" + b"x" * 5000)
        assert await big.closed_by_server()
        await messy.send(frames.LK_BARE)
        assert await messy.reply() == b"[SG*8800000015*0002*LK]"
        for client in (slow, messy, silent, sos, big):
            await client.close()


IDLE_CLIENTS = r"""
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(count):
    held.append(socket.create_connection(("127.0.0.1", port)))
print("connected", flush=True)
sys.stdin.readline()
"""


@pytest.mark.asyncio
async def test_ten_thousand_idle_connections(harness: GatewayHarness) -> None:
    """10,000 idle connections (held by another process) leave an SOS answered at once, and
    beyond max_connections a connection is refused."""
    import sys

    sessions = harness.sessions
    sos_band = await register_adapter_band(sessions, harness.clock, adapter="watch", device_id="8809008845")
    async with (
        harness.gateway() as gateway,
        running_watch_server(gateway, sessions, max_connections=10_001) as server,
    ):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            IDLE_CLIENTS,
            str(server.port),
            "10000",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            assert process.stdin is not None
            async with asyncio.timeout(60):
                assert (await process.stdout.readline()).strip() == b"connected"
            await eventually(lambda: _at_least(server, 10_000), timeout=15)
            sos = await WatchClient.connect(server.port)
            started = asyncio.get_running_loop().time()
            await sos.send(frames.AL_SOS)
            assert await sos.reply() == b"[3G*8809008845*0002*AL]"
            assert asyncio.get_running_loop().time() - started < 2
            assert len(await _alarms(sessions, sos_band)) == 1
            refused_before = ingress_count("watch", "refused_too_many_connections")
            extra = await WatchClient.connect(server.port)
            assert await extra.closed_by_server()
            assert ingress_count("watch", "refused_too_many_connections") == refused_before + 1
            await sos.close()
            await extra.close()
        finally:
            if process.stdin is not None:
                process.stdin.write(b"\n")
            await process.wait()


@pytest.mark.asyncio
async def test_idle_connections_are_closed(harness: GatewayHarness) -> None:
    await register_adapter_band(harness.sessions, harness.clock, adapter="watch", device_id="8800000015")
    before = ingress_count("watch", "closed_idle")
    async with (
        harness.gateway() as gateway,
        running_watch_server(gateway, harness.sessions, idle_timeout_s=0.5) as server,
    ):
        silent = await WatchClient.connect(server.port)
        known = await WatchClient.connect(server.port)
        await known.send(frames.LK_BARE)
        assert await known.reply() == b"[SG*8800000015*0002*LK]"
        assert await silent.closed_by_server()
        assert await known.closed_by_server()
        assert ingress_count("watch", "closed_idle") == before + 2
        await eventually(lambda: _at_most(server, 0))


async def _at_least(server: Any, count: int) -> bool:
    return bool(server.connections >= count)


async def _at_most(server: Any, count: int) -> bool:
    return bool(server.connections <= count)
