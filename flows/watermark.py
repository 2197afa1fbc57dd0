"""Event-time watermark over several input partitions, with allowed lateness.

watermark = min over input partitions of (max event time seen) - allowed lateness.
Taking the minimum keeps a fast partition from declaring a slow one's events late.
With idle advance on (live streams), wall time elapsed since the newest event also
moves it forward, so windows close when traffic stops; it is off for bounded replays
so their results never depend on processing speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NO_TIME = -(2**62)


@dataclass
class Watermark:
    lateness_ms: int
    idle_advance: bool = False
    max_by_partition: dict[int, int] = field(default_factory=dict)
    wall_at_max_ms: int = 0
    newest_ms: int = NO_TIME
    floor_ms: int = NO_TIME  # watermarks never move back (a new partition can't undo)

    def observe(self, partition: int, ts_ms: int, now_ms: int) -> None:
        if ts_ms > self.max_by_partition.get(partition, NO_TIME):
            self.max_by_partition[partition] = ts_ms
        if ts_ms > self.newest_ms:
            self.newest_ms = ts_ms
            self.wall_at_max_ms = now_ms

    def current(self, now_ms: int) -> int:
        if not self.max_by_partition:
            return NO_TIME
        wm = min(self.max_by_partition.values()) - self.lateness_ms
        if self.idle_advance:
            idle = max(0, now_ms - self.wall_at_max_ms)
            wm = max(wm, self.newest_ms - self.lateness_ms + idle) if idle else wm
        self.floor_ms = max(self.floor_ms, wm)
        return self.floor_ms
