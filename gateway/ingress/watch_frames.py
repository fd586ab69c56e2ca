"""The watch protocol's framing: `[MF*ID*LEN*CONTENT]`, or `[MF*ID*INDEX*LEN*CONTENT]` (the ZJ
family), with `}` escapes (`}\\x01` `}`, `}\\x02` `[`, `}\\x03` `]`, `}\\x04` `,`, `}\\x05` `*`).

Plain code, no I/O. A frame ends at the first raw `]` (escaped content never holds one), never
where its LEN says: lengths lie on real watches (`[SG*9081000548*0009*LK,0,100]` counts 9 for 8
bytes), so a lying LEN is counted and the frame still taken, and a LEN of 0xFFFF makes nobody wait.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ESCAPES = {1: ord("}"), 2: ord("["), 3: ord("]"), 4: ord(","), 5: ord("*")}
ESCAPE_OF = {value: bytes([ord("}"), key]) for key, value in ESCAPES.items()}
MANUFACTURER = re.compile(rb"[A-Za-z0-9]{2,4}")
DEVICE_ID = re.compile(rb"[A-Za-z0-9]{1,20}")
HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")


class FrameProblem:
    """Why bytes were not a frame: a label of `opaska_ingress_messages_total` (refused_<reason>)."""

    GARBAGE = "garbage"  # bytes outside any frame
    TOO_LARGE = "too_large"  # no `]` within max_frame_bytes
    UNTERMINATED = "unterminated"  # a new `[` before the frame's `]`
    BAD_ESCAPE = "bad_escape"  # `}` followed by anything but 0x01..0x05 (or cut off by `]`)
    MALFORMED = "malformed"  # not MF*ID*LEN*CONTENT


@dataclass(frozen=True)
class FrameError:
    reason: str
    detail: str


@dataclass(frozen=True)
class Body:
    """One frame's bytes between `[` and `]`, unescaped, and how many escapes it had on the wire."""

    data: bytes
    escapes: int = 0


@dataclass(frozen=True)
class Frame:
    manufacturer: str
    device_id: str
    index: str | None
    declared_length: int
    content: bytes
    escapes: int = 0

    @property
    def length_ok(self) -> bool:
        # Watches count the content either unescaped or as sent (Traccar's JXTK capture does the latter).
        return self.declared_length in (len(self.content), len(self.content) + self.escapes)

    @property
    def type(self) -> str:
        """The command word before the first comma: LK, UD, UD2, AL, INIT, ..."""
        return self.content.split(b",", 1)[0].decode("ascii", "replace")[:32]

    @property
    def values(self) -> list[str]:
        """The comma-separated fields after the command word (text commands only)."""
        _, _, rest = self.content.partition(b",")
        return rest.decode("ascii", "replace").split(",") if rest else []


class WatchFramer:
    """Bytes in, frames out, with bounded memory: whatever arrives, at most max_frame_bytes are kept."""

    def __init__(self, max_frame_bytes: int = 16384) -> None:
        self._max = max_frame_bytes
        self._buffer = bytearray()
        # True while bytes of an oversized frame are thrown away up to its `]`.
        self._discarding = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held (0 between frames)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Body | FrameError]:
        """Each complete frame's unescaped body (between `[` and `]`), or why bytes were dropped."""
        out: list[Body | FrameError] = []
        view = memoryview(data)
        position = 0
        while position < len(view):
            if self._discarding:
                end = data.find(b"]", position)
                if end < 0:
                    return out
                self._discarding = False
                position = end + 1
                continue
            if not self._buffer:
                start = data.find(b"[", position)
                if start < 0:
                    out.append(FrameError(FrameProblem.GARBAGE, f"{len(data) - position} bytes outside a frame"))
                    return out
                if start > position:
                    out.append(FrameError(FrameProblem.GARBAGE, f"{start - position} bytes outside a frame"))
                self._buffer.append(ord("["))
                position = start + 1
                continue
            end = data.find(b"]", position)
            restart = data.find(b"[", position, end if end >= 0 else len(data))
            if restart >= 0:
                # A new frame began before this one ended: the watch restarted it (or noise).
                out.append(FrameError(FrameProblem.UNTERMINATED, f"frame cut off after {len(self._buffer)} bytes"))
                self._buffer.clear()
                position = restart
                continue
            chunk_end = end if end >= 0 else len(data)
            if len(self._buffer) + (chunk_end - position) > self._max:
                out.append(FrameError(FrameProblem.TOO_LARGE, f"no ']' within {self._max} bytes"))
                self._buffer.clear()
                self._discarding = end < 0
                position = end + 1 if end >= 0 else len(data)
                continue
            self._buffer += view[position:chunk_end]
            if end < 0:
                return out
            raw = bytes(self._buffer[1:])
            self._buffer.clear()
            position = end + 1
            body = unescape(raw)
            out.append(Body(body, raw.count(b"}")) if isinstance(body, bytes) else body)
        return out


def unescape(raw: bytes) -> bytes | FrameError:
    if b"}" not in raw:
        return raw
    body = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == ord("}"):
            if i + 1 >= len(raw):
                return FrameError(FrameProblem.BAD_ESCAPE, "escape cut off by the end of the frame")
            replacement = ESCAPES.get(raw[i + 1])
            if replacement is None:
                return FrameError(FrameProblem.BAD_ESCAPE, f"unknown escape }}\\x{raw[i + 1]:02x}")
            body.append(replacement)
            i += 2
        else:
            body.append(byte)
            i += 1
    return bytes(body)


def escape(content: bytes) -> bytes:
    return b"".join(ESCAPE_OF.get(b, bytes([b])) for b in content)


def parse_frame(frame: Body | bytes) -> Frame | FrameError:
    """`MF*ID*[INDEX*]LEN*CONTENT` (the unescaped body of one frame) as its parts."""
    body = frame.data if isinstance(frame, Body) else frame
    parts = body.split(b"*", 2)
    if len(parts) < 3:
        return FrameError(FrameProblem.MALFORMED, "not MF*ID*LEN*CONTENT")
    manufacturer, device_id, rest = parts
    if not MANUFACTURER.fullmatch(manufacturer):
        return FrameError(FrameProblem.MALFORMED, f"bad manufacturer {manufacturer[:8]!r}")
    if not DEVICE_ID.fullmatch(device_id):
        return FrameError(FrameProblem.MALFORMED, f"bad device id {device_id[:24]!r}")
    index: bytes | None = None
    # The indexed variant (ZJ): a 4-hex index, then the 4-hex length (Traccar tells them apart so).
    fields = rest.split(b"*", 2)
    if len(fields) == 3 and HEX4.fullmatch(fields[0]) and HEX4.fullmatch(fields[1]):
        index, length, content = fields
    else:
        length, _, content = rest.partition(b"*")
        if not HEX4.fullmatch(length) or b"*" not in rest:
            return FrameError(FrameProblem.MALFORMED, f"bad length {length[:8]!r}")
    return Frame(
        manufacturer=manufacturer.decode(),
        device_id=device_id.decode(),
        index=index.decode() if index is not None else None,
        declared_length=int(length, 16),
        content=content,
        escapes=frame.escapes if isinstance(frame, Body) else 0,
    )


def build_frame(manufacturer: str, device_id: str, index: str | None, content: str) -> bytes:
    """A reply or command to a watch, worded as Traccar's decoder and encoder word them: text
    content is sent as it is (its commas separate fields), LEN in lower-case hex."""
    header = f"[{manufacturer}*{device_id}*" + (f"{index}*" if index is not None else "")
    return f"{header}{len(content):04x}*{content}]".encode("ascii")
