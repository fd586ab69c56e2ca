"""Reconnect backoff: grows, is capped, is jittered, and resets."""

import random

from core.mqtt.reconnect import Backoff


def test_backoff_grows_to_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(first_s=0.5, max_s=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    assert all(0.25 <= d <= 8.0 for d in delays)
    assert max(delays[5:]) > max(delays[:2])  # later attempts may wait much longer
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered: no two alike
    backoff.reset()
    assert backoff.next_delay() <= 0.5
