"""The shipped config/mosquitto.conf keeps every QoS 1 message for a gateway that is away or slow.

A real Mosquitto with the project config, and one with the config's queue and in-flight lines
removed (Mosquitto's defaults: 1000 queued, 20 in flight). The gateway's persistent MQTT 5 session
either disconnects during a burst of QoS 1 uplinks (`offline`) or stays connected but holds every
PUBACK until the burst is over (`stalled`, a gateway busy committing). With the project config every
message arrives; with the defaults Mosquitto drops messages and says so in its log, which proves the
test can fail: reverting config/mosquitto.conf to the defaults makes the first test fail.

The measuring code is bench/mosquitto_queue.py, which runs the same at 100,000 messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.mosquitto_queue import measure

MESSAGES = 3_000  # three times the default queue
SILENCE = 1.5  # seconds without a message that end a run


@pytest.mark.parametrize("mode", ["offline", "stalled"])
def test_project_config_keeps_every_message(tmp_path: Path, mode: str) -> None:
    result = measure(tmp_path, "project", MESSAGES, mode=mode, silence=SILENCE)

    assert result.delivered == result.published, result
    assert not result.drop_logged, result


@pytest.mark.parametrize("mode", ["offline", "stalled"])
def test_mosquitto_defaults_drop_messages(tmp_path: Path, mode: str) -> None:
    result = measure(tmp_path, "defaults", MESSAGES, mode=mode, silence=SILENCE)

    # At most the default queue (1000) plus, when connected, the default in-flight window (20).
    assert result.delivered <= 1_020, result
    assert result.drop_logged, result
