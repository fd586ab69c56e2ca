"""The embedded broker's door: nothing reaches amqtt's session store before it has proved who it is.

amqtt 0.12.1 acts on a CONNECT before it authenticates it: a clean-session CONNECT deletes the
stored session of its client id (subscriptions and queued messages), a persistent one merges into
it, and a client id already connected is taken over, all before the auth plugins are asked. One
anonymous CONNECT with the gateway's client id therefore silenced every SOS (issue 16). It also
never times out a connection that sends no CONNECT, and leaves a connection whose first packet
never came half-open (docs/brokers.md). The gate fixes all three in front of amqtt: each
connection waits for its CONNECT under a deadline, at most so many per address at once, and is
judged on the fresh CONNECT before amqtt sees it; anything refused is closed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator

from amqtt.adapters import WriterAdapter

CLOSE_WITHIN_S = 2.0


class PendingConnects:
    """Connections per address that have not yet sent their CONNECT."""

    def __init__(self, per_address: int) -> None:
        self._per_address = per_address
        self._pending: Counter[str] = Counter()

    @contextlib.contextmanager
    def slot(self, address: str) -> Iterator[bool]:
        """Yields whether this address may have one more connection waiting for its CONNECT."""
        if self._pending[address] >= self._per_address:
            yield False
            return
        self._pending[address] += 1
        try:
            yield True
        finally:
            self._pending[address] -= 1
            if self._pending[address] <= 0:
                del self._pending[address]


async def drop(writer: WriterAdapter) -> None:
    """Close a connection we refuse, and never wait on the peer for it: amqtt's close drains and
    waits for the peer, which a peer that is gone or hostile may never allow."""
    try:
        async with asyncio.timeout(CLOSE_WITHIN_S):
            await writer.close()
    except Exception:
        transport = getattr(getattr(writer, "_writer", None), "transport", None)
        if transport is not None:
            transport.abort()
