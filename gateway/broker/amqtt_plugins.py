"""amqtt plugins: per-band authentication and the topic ACL on the embedded broker.

amqtt builds its plugins itself, from a dotted class path and a config dataclass hydrated from
plain data, so a plugin cannot be handed a Python object. Each embedded broker therefore registers
a `BrokerGuard` (the credential store, the topic rules and who each connected client is) under a
random id and puts only that id into the plugins' config. A plugin whose id is unknown refuses to
load, so a misconfigured broker fails at start instead of running open.

The rule itself is `gateway.broker.acl.TopicRules`; nothing here decides who may do what.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from gateway.broker.acl import Principal, PrincipalKind, TopicRules, may_use_client_id
from gateway.broker.credential_store import CredentialStore
from gateway.broker.refusals import RefusalLog, Refused

log = logging.getLogger(__name__)


@dataclass
class BrokerGuard:
    """One broker's authority: credentials, rules, and the principal behind each client id."""

    credentials: CredentialStore
    rules: TopicRules
    # Keyed by client id, not by amqtt's Session (unhashable). Kept after a disconnect: a
    # persistent session (the gateway's) is still checked when messages are queued for it.
    # Safe only because `admit` lets each client id belong to one principal: amqtt keeps two
    # clean-session connections with the same client id open side by side, and both are
    # judged as whoever connected last.
    principals: dict[str, Principal] = field(default_factory=dict)
    refusals: RefusalLog = field(default_factory=RefusalLog)

    async def judge(self, session: Session) -> Principal | None:
        """The principal this CONNECT proves, or None (counted and logged); changes nothing.

        Run on the fresh CONNECT before amqtt touches any stored session (`_AclBroker`): a refused
        CONNECT must never disturb the connected client whose client id it names.
        """
        verdict = await self._verdict(session)
        if isinstance(verdict, Principal):
            return verdict
        self.refusals.refused("connect", *verdict)
        return None

    async def admit(self, session: Session) -> Principal | None:
        """Judge again as amqtt's auth plugin, and remember the principal for the client id."""
        client_id = session.client_id
        principal = await self.judge(session)
        if principal is None:
            # Reached only when the credentials changed between the broker's own early check and
            # this one: amqtt has already handed the old session's state to this connection, so
            # fail closed until a good CONNECT.
            if client_id:
                self.principals.pop(client_id, None)
            return None
        self.principals[client_id] = principal
        return principal

    async def _verdict(self, session: Session) -> Principal | tuple[Refused, str]:
        """Who this CONNECT proves to be, or why it is refused (and whom to name in the log)."""
        client_id = session.client_id
        who = f"client {client_id!r}, username {session.username!r}, from {session.remote_address}"
        principal: Principal | None = None
        try:
            if client_id:
                principal = await self.credentials.authenticate(session.username, session.password)
        except Exception:
            # A database failure must refuse the client, not crash the broker's connection task.
            log.exception("MQTT authentication failed for client %r", client_id)
            return Refused.AUTH_ERROR, who
        if principal is None:
            return Refused.BAD_CREDENTIALS, who
        if not may_use_client_id(principal, client_id):
            # A client id belongs to one principal (`band-{serial}` to that band), so the map
            # below can never hand one band's rights to another connection using its client id.
            return Refused.CLIENT_ID, f"{who}: not a client id of {principal.kind} {principal.username!r}"
        if session.will_flag and not self._will_allowed(principal, session.will_topic):
            # amqtt publishes a will without any topic check, so a will is judged here, at CONNECT,
            # as Mosquitto 2 does: otherwise a band could post a forged status under another band.
            return Refused.WILL_TOPIC, f"{who}: will topic {session.will_topic!r}"
        return principal

    def forget_bands(self, serials: set[str]) -> None:
        """The bands' credentials were revoked or replaced: their connections lose every right
        (publish, subscribe, delivery) until they connect again with credentials that are valid."""
        for client_id, principal in list(self.principals.items()):
            if principal.kind is PrincipalKind.BAND and principal.username in serials:
                del self.principals[client_id]
                log.info("MQTT client %r cut off: band %r's credentials were withdrawn", client_id, principal.username)

    def _will_allowed(self, principal: Principal, will_topic: str | None) -> bool:
        return bool(will_topic) and self.rules.may_publish(principal, will_topic or "")

    def allows(self, client_id: str | None, topic: str, action: Action) -> bool:
        """In memory only: this runs for every delivery of every message."""
        principal = self.principals.get(client_id) if client_id else None
        if action is Action.RECEIVE:
            # Not counted: every delivery is checked, and retained messages of other bands are
            # filtered out here on each band's connect as a matter of course.
            return principal is not None and self.rules.may_receive(principal, topic)
        if principal is None:
            allowed = False
        elif action is Action.PUBLISH:
            allowed = self.rules.may_publish(principal, topic)
        elif action is Action.SUBSCRIBE:
            allowed = self.rules.may_subscribe(principal, topic)
        else:
            allowed = False
        if not allowed:
            who = principal.username if principal is not None else "no principal"
            self.refusals.refused(
                str(action.value), Refused.TOPIC_RULES, f"client {client_id!r} ({who}) on {topic[:200]!r}"
            )
        return allowed


_GUARDS: dict[str, BrokerGuard] = {}


def register_guard(guard: BrokerGuard) -> str:
    """Make `guard` reachable from plugin config; returns the id to put there."""
    guard_id = secrets.token_hex(8)
    _GUARDS[guard_id] = guard
    return guard_id


def unregister_guard(guard_id: str) -> None:
    _GUARDS.pop(guard_id, None)


def _guard_for(config: Any) -> BrokerGuard:
    guard_id = getattr(config, "guard", "")
    try:
        return _GUARDS[guard_id]
    except KeyError:
        raise LookupError(f"no registered broker guard {guard_id!r}: build the config with broker_plugins()") from None


class BandAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints (no py.typed)
    """Admits the service account and bands with their own secret and client id; nobody else, never anonymous."""

    @dataclass
    class Config:
        guard: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._guard = _guard_for(context.config)

    async def authenticate(self, *, session: Session) -> bool:
        # amqtt wants True from every auth plugin; None would only mean "no opinion".
        return await self._guard.admit(session) is not None


class TopicAclPlugin(BaseTopicPlugin):  # type: ignore[misc]  # amqtt ships no type hints (no py.typed)
    """Applies `TopicRules` to PUBLISH, SUBSCRIBE and every delivery (RECEIVE)."""

    @dataclass
    class Config:
        guard: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._guard = _guard_for(context.config)

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        if session is None or not topic or action is None:
            return False
        return self._guard.allows(session.client_id, topic, action)


def broker_plugins(guard_id: str, *, enforce_topics: bool = True) -> dict[str, Any]:
    """The `plugins` section of an amqtt config: our authentication and, normally, our topic ACL."""
    plugins: dict[str, Any] = {f"{__name__}.BandAuthPlugin": {"guard": guard_id}}
    if enforce_topics:
        plugins[f"{__name__}.TopicAclPlugin"] = {"guard": guard_id}
    return plugins
