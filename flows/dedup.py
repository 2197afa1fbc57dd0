"""Drop repeated event ids (producer retries) within an event-time horizon.

Bounded memory: ids older than ``horizon_ms`` behind the newest event seen are
forgotten; the ``events`` table (ReplacingMergeTree) still collapses older repeats.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from uuid import UUID


@dataclass
class Deduplicator:
    horizon_ms: int
    _seen: dict[UUID, int] = field(default_factory=dict)
    _order: deque[tuple[int, UUID]] = field(default_factory=deque)
    _max_ms: int = -(2**62)

    def accept(self, event_id: UUID, ts_ms: int) -> bool:
        """True the first time an id is seen inside the horizon."""
        if event_id in self._seen:
            return False
        if ts_ms > self._max_ms:
            self._max_ms = ts_ms
        self._seen[event_id] = ts_ms
        self._order.append((ts_ms, event_id))
        self._evict()
        return True

    def _evict(self) -> None:
        cutoff = self._max_ms - self.horizon_ms
        order, seen = self._order, self._seen
        while order and order[0][0] < cutoff:
            _, eid = order.popleft()
            seen.pop(eid, None)

    def __len__(self) -> int:
        return len(self._seen)
