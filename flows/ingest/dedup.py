"""Drop repeated event ids (producer retries) within an event-time horizon, per tenant.

Ids are scoped by tenant: two tenants may use the same ``event_id`` and both count.
Each tenant's horizon moves with its own newest event time only, so one tenant's clock
never makes another forget its ids early.

Bounded memory: ids whose event time is more than ``horizon_ms`` behind their tenant's
newest event seen are forgotten (a heap orders them by event time, so an out-of-order or
future-dated event cannot pin older ones in memory); the ``events`` table
(ReplacingMergeTree) still collapses older repeats.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from uuid import UUID

NO_TIME = -(2**62)


@dataclass
class _TenantIds:
    seen: set[UUID] = field(default_factory=set)
    by_time: list[tuple[int, UUID]] = field(default_factory=list)
    max_ms: int = NO_TIME


@dataclass
class Deduplicator:
    horizon_ms: int
    tenants: dict[str, _TenantIds] = field(default_factory=dict)
    _touched: set[str] = field(default_factory=set)

    def accept(self, event_id: UUID, ts_ms: int, *, tenant: str = "", evict: bool = True) -> bool:
        """True the first time ``(tenant, event_id)`` is seen inside the horizon.

        ``evict=False`` defers forgetting to an explicit :meth:`evict`; a batch of
        events (which upstream exchanges may have reordered) is then checked against
        everything known before it, so a retry in the same batch as a much newer
        event is still caught.
        """
        t = self.tenants.get(tenant)
        if t is None:
            t = self.tenants[tenant] = _TenantIds()
        if event_id in t.seen:
            return False
        if ts_ms > t.max_ms:
            t.max_ms = ts_ms
        t.seen.add(event_id)
        heapq.heappush(t.by_time, (ts_ms, event_id))
        if evict:
            self._evict(t)
        else:
            self._touched.add(tenant)
        return True

    def evict(self) -> None:
        """Forget what fell out of the horizon of every tenant touched since last time."""
        for tenant in self._touched:
            self._evict(self.tenants[tenant])
        self._touched.clear()

    def _evict(self, t: _TenantIds) -> None:
        cutoff = t.max_ms - self.horizon_ms
        heap, seen = t.by_time, t.seen
        while heap and heap[0][0] < cutoff:
            seen.discard(heapq.heappop(heap)[1])

    def __len__(self) -> int:
        return sum(len(t.seen) for t in self.tenants.values())
