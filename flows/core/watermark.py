"""Event-time watermark over several input partitions, with allowed lateness.

watermark = min over input partitions of (max event time seen) - allowed lateness.
Taking the minimum keeps a fast partition from declaring a slow one's events late;
when the partition count is known, a partition not heard from yet holds the watermark
back (consumers start at different speeds).

With idle advance on (live streams) a partition silent for ``idle_timeout_ms`` of wall
time stops holding the others back, and wall time elapsed since the newest event
moves the watermark forward, so windows close when traffic stops. It is off for
bounded replays so their results never depend on processing speed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

NO_TIME = -(2**62)


@dataclass
class Watermark:
    lateness_ms: int
    idle_advance: bool = False
    partitions: int | None = None  # input partition count, when known
    idle_timeout_ms: int = 30_000
    max_by_partition: dict[int, int] = field(default_factory=dict)
    wall_by_partition: dict[int, int] = field(default_factory=dict)
    wall_at_max_ms: int = 0
    newest_ms: int = NO_TIME
    floor_ms: int = NO_TIME  # watermarks never move back
    started_wall_ms: int | None = None

    def observe(self, partition: int, ts_ms: int, now_ms: int) -> None:
        if self.started_wall_ms is None:
            self.started_wall_ms = now_ms
        if ts_ms > self.max_by_partition.get(partition, NO_TIME):
            self.max_by_partition[partition] = ts_ms
        self.wall_by_partition[partition] = now_ms
        if ts_ms > self.newest_ms:
            self.newest_ms = ts_ms
            self.wall_at_max_ms = now_ms

    def _idle(self, partition: int, now_ms: int) -> bool:
        if not self.idle_advance:
            return False
        start = now_ms if self.started_wall_ms is None else self.started_wall_ms
        last = self.wall_by_partition.get(partition, start)
        return now_ms - last > self.idle_timeout_ms

    def current(self, now_ms: int) -> int:
        if not self.max_by_partition:
            return self.floor_ms
        parts: Iterable[int] = self.max_by_partition.keys()
        if self.partitions:  # a partition beyond the count (added later) counts too
            parts = set(range(self.partitions)).union(parts)
        maxes = []
        for p in parts:
            if self._idle(p, now_ms):
                continue
            seen = self.max_by_partition.get(p)
            if seen is None:
                return self.floor_ms  # an active partition we have not heard from yet
            maxes.append(seen)
        wm = (min(maxes) if maxes else self.newest_ms) - self.lateness_ms
        if self.idle_advance:
            idle = max(0, now_ms - self.wall_at_max_ms)
            if idle > self.idle_timeout_ms:
                wm = max(wm, self.newest_ms - self.lateness_ms + idle)
        self.floor_ms = max(self.floor_ms, wm)
        return self.floor_ms
