"""Pacing for the simulator: backfill history fast, then follow the wall clock.

An event whose time is before the moment the run started is sent at once (subject to
the rate cap); later ones wait until wall time catches up, scaled by ``speed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Pacer:
    started_event_s: float  # event time (epoch s) that maps to the start wall time
    started_wall_s: float
    speed: float = 1.0
    max_rate: float = 0.0  # events per wall second; 0 = no cap
    _sent: int = field(default=0)

    def delay(self, event_s: float, wall_s: float) -> float:
        """Seconds to wait before sending an event stamped ``event_s``."""
        wait = 0.0
        if event_s > self.started_event_s:
            due = self.started_wall_s + (event_s - self.started_event_s) / self.speed
            wait = due - wall_s
        if self.max_rate > 0:
            earliest = self.started_wall_s + self._sent / self.max_rate
            wait = max(wait, earliest - wall_s)
        self._sent += 1
        return max(0.0, wait)


def sleep_until_due(
    pacer: Pacer, event_s: float, clock: Callable[[], float], sleep: Callable[[float], None]
) -> None:
    wait = pacer.delay(event_s, clock())
    if wait > 0:
        sleep(wait)
