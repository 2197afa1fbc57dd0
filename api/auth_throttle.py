"""Slows down key guessing: failed authentications per client address (issue #14).

Each address has a token bucket of ``burst`` failures that refills one token every
``refill_s`` seconds. A wrong key takes a token; an address with no token left is
answered 429 (``Retry-After``) before its key is even compared, whatever key it sends,
so a throttled guesser cannot learn that a guess was right. Buckets live in a
least-recently-used map of at most ``max_addresses`` entries: memory stays bounded
however many addresses an attacker uses (evicting the oldest bucket only forgets an
address that has been quiet the longest).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float  # when ``tokens`` was last brought up to date


class FailedAuthThrottle:
    """Per-address token buckets of failed authentications (thread-safe)."""

    def __init__(
        self,
        burst: int,
        refill_s: float,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def _refilled(self, address: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(address)
        if bucket is not None:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) / self.refill_s)
            bucket.at = now
            if bucket.tokens >= self.burst:  # fully refilled: nothing worth remembering
                del self._buckets[address]
                return None
        return bucket

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try a key again (0: now)."""
        with self._lock:
            bucket = self._refilled(address, self._clock())
            if bucket is None or bucket.tokens >= 1:
                return 0.0
            return (1 - bucket.tokens) * self.refill_s

    def failed(self, address: str) -> None:
        """Records a failed authentication of ``address``."""
        with self._lock:
            now = self._clock()
            bucket = self._refilled(address, now)
            if bucket is None:
                bucket = self._buckets[address] = _Bucket(float(self.burst), now)
            self._buckets.move_to_end(address)
            bucket.tokens = max(0.0, bucket.tokens - 1)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)

    def tracked(self) -> int:
        """Addresses with a bucket (for tests and metrics)."""
        with self._lock:
            return len(self._buckets)


def retry_after_header(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
