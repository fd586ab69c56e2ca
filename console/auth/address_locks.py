"""One login at a time per source address, within a console process.

The throttle (rate_limit.py) reads the failures, then records the try, then the password is
checked. Tries sent at the same moment from one address would all read the failures before any
of them is recorded, and all reach the password check: a burst of guesses past the free ones.
Taking the address's turn first makes each try see the ones before it. Other addresses never
wait for it. Across several console processes a burst can still split between them (each one
serialised); docs/security.md says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class AddressLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, address: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(address, asyncio.Lock())
        self._holders[address] = self._holders.get(address, 0) + 1
        try:
            async with lock:
                yield
        finally:
            # The last one waiting drops the lock: the map holds only addresses logging in now.
            self._holders[address] -= 1
            if self._holders[address] == 0:
                del self._holders[address]
                del self._locks[address]

    def __len__(self) -> int:
        return len(self._locks)
