"""Who may publish and subscribe where: the one rule every broker enforces.

A band may publish only its own uplink (`{root}/bands/{serial}/up/{kind}`) and its own retained
status, and read only its own downlink. The platform's service account may use everything under
the root. Everyone else may do nothing. The embedded broker's plugin, the Mosquitto ACL file and
the EMQX hook are each generated from, or call, this module.

A client id belongs to one principal: a band connects as `band-{serial}` and nothing else, and
the service account may use any client id except one of that form. Otherwise a band could take
over another's session (or the gateway's), or, on a broker that keys anything by client id,
act as another band. Mosquitto cannot see client ids in its ACL, so there the band listener
replaces every client id by the username instead (`use_username_as_clientid`, config/mosquitto.conf).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from enum import StrEnum

from core.settings import MqttSettings
from gateway.topics import TopicScheme
from registry.identifiers import is_valid_band_id


class PrincipalKind(StrEnum):
    BAND = "band"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    username: str


BAND_CLIENT_ID_PREFIX = "band-"


def band_client_id(serial: str) -> str:
    """The only client id a band may connect with (docs/band-protocol.md)."""
    return BAND_CLIENT_ID_PREFIX + serial


def platform_client_id(prefix: str, part: str) -> str:
    """The client id of one of the platform's own connections (`opaska:gateway`, `opaska:traccar`).

    The `:` is what no band serial may hold (`registry.identifiers.FORBIDDEN_IN_BAND_ID`): on Mosquitto's
    band listener a band's client id is its serial (`use_username_as_clientid`), so a band
    registered as `opaska-gateway` would otherwise take over the gateway's persistent session.
    Whoever knows these ids still cannot use them: every broker admits them only with the service
    account's password, and a refused CONNECT never disturbs the connected client (issue 16).
    """
    return f"{prefix}:{part}"


def gateway_client_id(mqtt: MqttSettings) -> str:
    """This gateway's client id: `opaska:gateway`, or `opaska:gateway-{name}` for one of several
    (named, or by its host: each must keep its own persistent session)."""
    name = mqtt.gateway_name or (socket.gethostname() if mqtt.shared_group else "")
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
    return platform_client_id(mqtt.client_id_prefix, f"gateway-{name}" if name else "gateway")


def may_use_client_id(who: Principal, client_id: str) -> bool:
    """May this (authenticated) principal connect with this client id? Never an empty one."""
    if not client_id:
        return False
    if who.kind is PrincipalKind.BAND:
        return client_id == band_client_id(who.username)
    return not client_id.startswith(BAND_CLIENT_ID_PREFIX)


def _has_wildcard(topic: str) -> bool:
    return "+" in topic or "#" in topic


@dataclass(frozen=True)
class TopicRules:
    topics: TopicScheme

    def _root_prefix(self) -> str:
        return self.topics.root + "/"

    def may_publish(self, who: Principal, topic: str) -> bool:
        if _has_wildcard(topic):
            return False
        if who.kind is PrincipalKind.SERVICE:
            return topic.startswith(self._root_prefix())
        if not is_valid_band_id(who.username):
            return False
        if topic == self.topics.status(who.username):
            return True
        prefix = self.topics.uplink(who.username, "")
        kind = topic[len(prefix) :] if topic.startswith(prefix) else ""
        return bool(kind) and "/" not in kind

    def may_subscribe(self, who: Principal, topic_filter: str) -> bool:
        if who.kind is PrincipalKind.SERVICE:
            if topic_filter.startswith("$share/"):
                # $share/{group}/{filter}: gateways sharing the band traffic between them.
                topic_filter = topic_filter.split("/", 2)[-1]
            return topic_filter.startswith(self._root_prefix())
        if not is_valid_band_id(who.username):
            return False
        prefix = self.topics.downlink(who.username, "")
        if topic_filter == prefix + "#":
            return True
        kind = topic_filter[len(prefix) :] if topic_filter.startswith(prefix) else ""
        return bool(kind) and "/" not in kind and not _has_wildcard(kind)

    def may_receive(self, who: Principal, topic: str) -> bool:
        """Checked at delivery: a band only ever gets its own downlink."""
        if who.kind is PrincipalKind.SERVICE:
            return topic.startswith(self._root_prefix())
        return is_valid_band_id(who.username) and topic.startswith(self.topics.downlink(who.username, ""))
