"""Drop repeated event ids (producer retries) within an event-time horizon.

Bounded memory: ids whose event time is more than ``horizon_ms`` behind the newest event
seen are forgotten (a heap orders them by event time, so an out-of-order or
future-dated event cannot pin older ones in memory); the ``events`` table
(ReplacingMergeTree) still collapses older repeats.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from uuid import UUID


@dataclass
class Deduplicator:
    horizon_ms: int
    _seen: set[UUID] = field(default_factory=set)
    _by_time: list[tuple[int, UUID]] = field(default_factory=list)
    _max_ms: int = -(2**62)

    def accept(self, event_id: UUID, ts_ms: int, *, evict: bool = True) -> bool:
        """True the first time an id is seen inside the horizon.

        ``evict=False`` defers forgetting to an explicit :meth:`evict`; a batch of
        events (which upstream exchanges may have reordered) is then checked against
        everything known before it, so a retry in the same batch as a much newer
        event is still caught.
        """
        if event_id in self._seen:
            return False
        if ts_ms > self._max_ms:
            self._max_ms = ts_ms
        self._seen.add(event_id)
        heapq.heappush(self._by_time, (ts_ms, event_id))
        if evict:
            self.evict()
        return True

    def evict(self) -> None:
        cutoff = self._max_ms - self.horizon_ms
        heap, seen = self._by_time, self._seen
        while heap and heap[0][0] < cutoff:
            seen.discard(heapq.heappop(heap)[1])

    def __len__(self) -> int:
        return len(self._seen)
