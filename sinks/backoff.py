"""Exponential backoff, the one rule every retry in the sinks follows.

The wait after failed attempt ``n`` (from 1) is ``base * 2^(n - 1)``, optionally capped:
the ClickHouse and Kafka writers sleep exactly that, the webhook dispatcher draws its
full-jitter delay below it. One place, so the retry schedule reads the same everywhere.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


def doubling_delay(base_s: float, attempt: int, cap_s: float = math.inf) -> float:
    """``base_s * 2^(attempt - 1)`` seconds, at most ``cap_s`` (the exponent stops at 64,
    so a huge attempt number cannot overflow)."""
    return min(cap_s, base_s * 2.0 ** min(attempt - 1, 64))


@dataclass(frozen=True, slots=True)
class Backoff:
    """How often a writer tries one write and how long it waits in between."""

    attempts: int
    base_s: float
    sleep: Callable[[float], None] = time.sleep

    def pause(self, attempt: int) -> None:
        """Wait after failed attempt number ``attempt`` (from 1)."""
        self.sleep(doubling_delay(self.base_s, attempt))
