"""Fuzzing the watch-protocol framer and parser: whatever the bytes and however TCP cuts them, no
exception, bounded memory, and every well-formed frame comes out whole."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.ingress.watch_decoder import decode
from gateway.ingress.watch_frames import Body, Frame, FrameError, WatchFramer, escape, parse_frame

MAX = 512
HEX4_STAR = re.compile(rb"[0-9A-Fa-f]{4}\*")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_any_bytes_in_any_pieces(chunks: list[bytes]) -> None:
    framer = WatchFramer(MAX)
    for chunk in chunks:
        for item in framer.feed(chunk):
            assert isinstance(item, Body | FrameError)
            if isinstance(item, Body):
                assert len(item.data) <= MAX
                parsed = parse_frame(item)
                if isinstance(parsed, Frame):
                    decode(parsed, received_at=datetime.now(UTC))
        assert framer.pending <= MAX


@FUZZ
@given(
    st.lists(st.binary(max_size=120), min_size=1, max_size=8),
    st.lists(st.integers(min_value=0), max_size=30),
    st.binary(max_size=20).filter(lambda b: b"[" not in b),
)
def test_escaped_frames_come_out_whole_however_cut(contents: list[bytes], cuts: list[int], noise: bytes) -> None:
    stream = noise + b"".join(b"[" + escape(content) + b"]" for content in contents)
    framer = WatchFramer(MAX)
    bodies = [item for piece in _cut(stream, cuts) for item in framer.feed(piece) if isinstance(item, Body)]
    assert [body.data for body in bodies] == contents
    assert framer.pending == 0


@FUZZ
@given(
    st.sampled_from(["SG", "3G", "CS", "ZJ"]),
    st.from_regex(r"[0-9]{10,15}", fullmatch=True),
    st.one_of(st.none(), st.from_regex(r"[0-9a-f]{4}", fullmatch=True)),
    st.binary(max_size=200),
)
def test_parse_reads_back_what_was_framed(manufacturer: str, device_id: str, index: str | None, content: bytes) -> None:
    header = f"{manufacturer}*{device_id}*" + (f"{index}*" if index else "") + f"{len(content):04x}*"
    frame = parse_frame(header.encode() + content)
    if index is None and HEX4_STAR.match(content):
        return  # content that itself begins like LEN*: ambiguous by the protocol's design (Traccar's too)
    assert isinstance(frame, Frame)
    parts = (frame.manufacturer, frame.device_id, frame.index, frame.content)
    assert parts == (manufacturer, device_id, index, content)
    assert frame.length_ok
    decode(frame, received_at=datetime.now(UTC))
