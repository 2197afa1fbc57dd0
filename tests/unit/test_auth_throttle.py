"""Failed authentications per address: a token bucket, bounded memory."""

from __future__ import annotations

from api.auth_throttle import FailedAuthThrottle, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_throttled_until_a_token_refills() -> None:
    clock = Clock()
    t = FailedAuthThrottle(burst=3, refill_s=10.0, clock=clock)
    for _ in range(3):
        assert t.retry_after("1.2.3.4") == 0
        t.failed("1.2.3.4")
    assert t.retry_after("1.2.3.4") == 10.0
    assert t.retry_after("5.6.7.8") == 0  # another address is not affected
    clock.now += 4
    assert t.retry_after("1.2.3.4") == 6.0
    clock.now += 6
    assert t.retry_after("1.2.3.4") == 0
    t.failed("1.2.3.4")  # the refilled token is spent at once
    assert t.retry_after("1.2.3.4") == 10.0


def test_failures_while_throttled_do_not_go_negative() -> None:
    clock = Clock()
    t = FailedAuthThrottle(burst=2, refill_s=1.0, clock=clock)
    for _ in range(50):
        t.failed("a")
    clock.now += 1
    assert t.retry_after("a") == 0


def test_memory_is_bounded_and_quiet_addresses_are_forgotten() -> None:
    clock = Clock()
    t = FailedAuthThrottle(burst=5, refill_s=1.0, max_addresses=100, clock=clock)
    for i in range(10_000):
        t.failed(f"10.0.{i // 256}.{i % 256}")
    assert t.tracked() == 100
    clock.now += 10  # every bucket full again: forgotten on the next look
    for i in range(9_900, 10_000):
        assert t.retry_after(f"10.0.{i // 256}.{i % 256}") == 0
    assert t.tracked() == 0


def test_retry_after_header_is_whole_seconds() -> None:
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(5.01) == "6"
