"""Broker refusals are counted by action and reason, and logged at most once per reason per interval."""

from __future__ import annotations

import logging

import pytest
from amqtt.contexts import Action
from prometheus_client import REGISTRY

from gateway.broker.acl import Principal, PrincipalKind, TopicRules
from gateway.broker.amqtt_plugins import BrokerGuard
from gateway.broker.refusals import RefusalLog, Refused
from gateway.topics import TopicScheme

pytestmark = pytest.mark.stack_independent


def count(action: str, reason: Refused) -> float:
    return REGISTRY.get_sample_value("opaska_broker_refusals_total", {"action": action, "reason": reason.value}) or 0.0


def test_a_flood_is_counted_in_full_and_logged_a_line_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    refusals = RefusalLog(every_s=60, monotonic=lambda: now[0])
    before = count("connect", Refused.BAD_CREDENTIALS)
    with caplog.at_level(logging.WARNING, logger="gateway.broker.refusals"):
        for _ in range(2000):
            refusals.refused("connect", Refused.BAD_CREDENTIALS, "client 'x'")
        refusals.refused("connect", Refused.CONNECT_TIMEOUT, "1.2.3.4")  # another reason: its own line
        now[0] = 61
        refusals.refused("connect", Refused.BAD_CREDENTIALS, "client 'y'")
    assert count("connect", Refused.BAD_CREDENTIALS) - before == 2001
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith("MQTT connect refused (bad_credentials): client 'x'")
    assert lines[2] == "MQTT connect refused (bad_credentials): client 'y' (and 1999 more since the last line)"


def test_publishes_and_subscriptions_outside_the_rules_are_counted() -> None:
    topics = TopicScheme("opaska/v1")
    guard = BrokerGuard(credentials=None, rules=TopicRules(topics))  # type: ignore[arg-type]  # not asked here
    guard.principals["band-A1"] = Principal(PrincipalKind.BAND, "A1")
    published, subscribed = count("publish", Refused.TOPIC_RULES), count("subscribe", Refused.TOPIC_RULES)
    assert guard.allows("band-A1", topics.uplink("A1", "sos"), Action.PUBLISH)
    assert not guard.allows("band-A1", topics.uplink("B2", "sos"), Action.PUBLISH)  # another band's
    assert not guard.allows("stranger", topics.uplink("A1", "sos"), Action.PUBLISH)  # nobody we know
    assert not guard.allows("band-A1", "opaska/v1/#", Action.SUBSCRIBE)
    assert not guard.allows("band-A1", topics.downlink("B2", "config"), Action.RECEIVE)  # filtered, not counted
    assert count("publish", Refused.TOPIC_RULES) - published == 2
    assert count("subscribe", Refused.TOPIC_RULES) - subscribed == 1
