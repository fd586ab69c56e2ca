"""The band topic scheme: {root}/bands/{band}/up/{kind} and {root}/bands/{band}/down/{kind}."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UplinkTopic:
    band: str
    kind: str


@dataclass(frozen=True)
class BandTopic:
    """A topic the gateway listens to: a band's uplink of some kind, or its status."""

    band: str
    kind: str
    is_status: bool


@dataclass(frozen=True)
class TopicScheme:
    root: str

    @property
    def uplink_filter(self) -> str:
        return f"{self.root}/bands/+/up/#"

    def uplink(self, band: str, kind: str) -> str:
        return f"{self.root}/bands/{band}/up/{kind}"

    def downlink(self, band: str, kind: str) -> str:
        return f"{self.root}/bands/{band}/down/{kind}"

    @property
    def status_filter(self) -> str:
        return f"{self.root}/bands/+/status"

    def downlink_filter(self, band: str) -> str:
        return f"{self.root}/bands/{band}/down/#"

    def status(self, band: str) -> str:
        """Retained online/offline status, also the band's MQTT last will."""
        return f"{self.root}/bands/{band}/status"

    def parse_uplink(self, topic: str) -> UplinkTopic | None:
        prefix = f"{self.root}/bands/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 3 or parts[1] != "up" or not parts[0] or not parts[2]:
            return None
        return UplinkTopic(band=parts[0], kind=parts[2])

    def parse_band_topic(self, topic: str) -> BandTopic | None:
        prefix = f"{self.root}/bands/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) == 2 and parts[0] and parts[1] == "status":
            return BandTopic(parts[0], "status", is_status=True)
        uplink = self.parse_uplink(topic)
        return BandTopic(uplink.band, uplink.kind, is_status=False) if uplink else None


def shared(topic_filter: str, group: str) -> str:
    """`topic_filter` as a shared subscription of `group` (each message to one member); as it is
    when `group` is empty."""
    return f"$share/{group}/{topic_filter}" if group else topic_filter
