"""sinks.backoff: the one exponential schedule the writers sleep and webhooks jitter under."""

from __future__ import annotations

import math

from sinks.backoff import Backoff, doubling_delay


def test_doubling_delay_doubles_from_the_base_and_stops_at_the_cap() -> None:
    assert [doubling_delay(0.5, n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]
    assert doubling_delay(1.0, 20, cap_s=60.0) == 60.0
    assert math.isfinite(doubling_delay(1.0, 10**9))  # the exponent is bounded


def test_backoff_sleeps_the_doubling_delay_after_each_failed_attempt() -> None:
    slept: list[float] = []
    retry = Backoff(attempts=4, base_s=0.25, sleep=slept.append)
    for attempt in range(1, retry.attempts):
        retry.pause(attempt)
    assert slept == [0.25, 0.5, 1.0]
