"""Rejected messages are logged once per band and reason per interval, with a count of the rest."""

import logging

import pytest

from gateway.judge import Reason, Rejection
from gateway.reject_log import RejectLog


def test_one_line_per_band_and_reason_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rejects = RejectLog(60.0, monotonic=lambda: now[0])
    bad = Rejection(Reason.INVALID, "battery: Input should be a valid integer", "B-1", "heartbeat")
    with caplog.at_level(logging.INFO, logger="gateway.rejects"):
        assert rejects.rejected(bad)
        assert not any(rejects.rejected(bad) for _ in range(500))
        # Another band, or another reason of the same band, has its own line.
        assert rejects.rejected(Rejection(Reason.INVALID, "x", "B-2", "heartbeat"))
        assert rejects.rejected(Rejection(Reason.CLOCK, "x", "B-1", "heartbeat"))
        now[0] = 61.0
        assert rejects.rejected(bad)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 4
    assert lines[-1].endswith("(and 500 more since the last line)")


def test_band_mismatch_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.rejects"):
        RejectLog(60.0).rejected(Rejection(Reason.BAND_MISMATCH, "payload names band 'B-9'", "B-1", "sos"))
    assert caplog.records[0].levelno == logging.WARNING
