"""Snapshot cadence on an event-time grid.

Before applying an event at ``ts``, a snapshot is due at the latest grid point ``b <= ts``
not yet snapshotted, showing everything before ``b``. Grid points with no later events
are skipped, so quiet periods cost nothing and the history stays on round times.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.core.timeutil import window_start


@dataclass
class Cadence:
    interval_ms: int
    next_ms: int | None = None

    def due(self, ts_ms: int) -> int | None:
        """The grid point to snapshot before an event at ``ts_ms``, if any."""
        point = window_start(ts_ms, self.interval_ms)
        if self.next_ms is None:
            self.next_ms = point + self.interval_ms
            return None
        if ts_ms < self.next_ms:
            return None
        self.next_ms = point + self.interval_ms
        return point
