"""Band credentials for the brokers' authentication: a cache of the registry.

Checked on every connect, so it must be fast: the hashes are held in memory and reloaded every
few seconds; a username not in the cache is looked up once in the database (a band registered a
moment ago can connect at once). A stored hash is Mosquitto's `$7$` PBKDF2-SHA512, which costs
about 0.1 ms to verify, so a reconnect storm of 10,000 bands costs about a second of CPU.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.broker.acl import Principal, PrincipalKind
from registry.credentials import verify_band_secret
from registry.identifiers import is_valid_band_id
from registry.model import Band, BandStatus

log = logging.getLogger(__name__)


async def band_secret_hashes(session: AsyncSession) -> dict[str, str]:
    """Serial → stored secret hash for every band that may connect (not retired, with a secret)."""
    rows = await session.execute(
        select(Band.serial, Band.secret_hash).where(Band.status != BandStatus.RETIRED, Band.secret_hash.is_not(None))
    )
    return {serial: secret_hash for serial, secret_hash in rows if secret_hash}


async def _one_band_hash(session: AsyncSession, serial: str) -> str | None:
    return (
        await session.execute(
            select(Band.secret_hash).where(
                Band.serial == serial, Band.status != BandStatus.RETIRED, Band.secret_hash.is_not(None)
            )
        )
    ).scalar_one_or_none()


class CredentialStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        service_username: str,
        service_password: str,
        refresh_every_s: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._service_username = service_username
        self._service_password = service_password
        self._refresh_every_s = refresh_every_s
        self._hashes: dict[str, str] = {}
        self._loaded_at = float("-inf")
        self._miss_checked_at: dict[str, float] = {}
        self._refresh_lock = asyncio.Lock()
        self._withdrawn_listeners: list[Callable[[set[str]], None]] = []

    @property
    def service_username(self) -> str:
        return self._service_username

    @property
    def refresh_every_s(self) -> float:
        return self._refresh_every_s

    def on_withdrawn(self, listener: Callable[[set[str]], None]) -> None:
        """Call `listener` with the serials whose credentials were revoked or replaced since the last
        refresh (or whose band was retired): a broker cuts off their connections."""
        self._withdrawn_listeners.append(listener)

    async def refresh(self) -> None:
        async with self._sessions() as session:
            hashes = await band_secret_hashes(session)
        withdrawn = {serial for serial, stored in self._hashes.items() if hashes.get(serial) != stored}
        self._hashes = hashes
        self._loaded_at = time.monotonic()
        self._miss_checked_at.clear()
        if withdrawn:
            log.info("credentials of %d band(s) withdrawn or replaced in the registry", len(withdrawn))
            for listener in self._withdrawn_listeners:
                listener(withdrawn)

    async def authenticate(self, username: str | None, password: str | None) -> Principal | None:
        """The principal these credentials prove, or None."""
        if not username or password is None:
            return None
        if username == self._service_username:
            if self._service_password and hmac.compare_digest(password.encode(), self._service_password.encode()):
                return Principal(PrincipalKind.SERVICE, username)
            return None
        if not is_valid_band_id(username):
            return None
        await self._refresh_if_stale()
        stored = self._hashes.get(username)
        if stored is None or not verify_band_secret(password, stored):
            stored = await self._look_up_miss(username)
        if stored is not None and verify_band_secret(password, stored):
            return Principal(PrincipalKind.BAND, username)
        return None

    async def band_still_admitted(self, serial: str) -> bool:
        """Whether the registry still lets this band connect (not revoked, not retired), as of the
        last reload: for a broker that asks per publish (the EMQX authorisation hook), so a band
        whose credentials were revoked loses its rights on a connection it already had."""
        await self._refresh_if_stale()
        return serial in self._hashes or await self._look_up_miss(serial) is not None

    async def _refresh_if_stale(self) -> None:
        # One reload at a time: in a reconnect storm every waiting CONNECT would otherwise start its
        # own full reload of the registry the moment the cache goes stale.
        if time.monotonic() - self._loaded_at <= self._refresh_every_s:
            return
        async with self._refresh_lock:
            if time.monotonic() - self._loaded_at > self._refresh_every_s:
                await self.refresh()

    async def _look_up_miss(self, username: str) -> str | None:
        # At most one database look-up per username per second: a band retrying a wrong password
        # in a loop must not turn into a query storm.
        now = time.monotonic()
        if now - self._miss_checked_at.get(username, float("-inf")) < 1.0:
            return None
        if len(self._miss_checked_at) > 100_000:
            self._miss_checked_at.clear()
        self._miss_checked_at[username] = now
        async with self._sessions() as session:
            stored = await _one_band_hash(session, username)
        if stored is not None:
            self._hashes[username] = stored
        else:
            self._hashes.pop(username, None)
        return stored
