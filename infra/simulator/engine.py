"""The discrete-event core: one pending step per entity on a heap, popped in time order.

Every entity (ticket, chat session, complaint, agent, client) keeps exactly one pending
step on the heap, ordered by simulated time, so events come out in non-decreasing
``occurred_at`` order while lifecycles interleave like real traffic. Ties are broken by
a sequence number, so ordering never depends on comparing entities.
"""

from __future__ import annotations

import abc
import heapq
import itertools
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from infra.simulator.config import SimConfig
from infra.simulator.entities import Tenant, build_tenant
from infra.simulator.timeline import HOUR, demand_at, to_ms
from infra.simulator.vocabulary import CATEGORIES, Weighted

Event = dict[str, Any]
Handler = Callable[[int, Any], Event | None]


class Stream:
    """A Poisson arrival stream of one tenant, thinned by the demand profile."""

    __slots__ = ("per_ms", "spawn", "tenant")

    def __init__(
        self, tenant: Tenant, per_hour: float, spawn: Callable[[int, Tenant], Event]
    ) -> None:
        self.tenant = tenant
        self.per_ms = per_hour / HOUR
        self.spawn = spawn


class Engine(abc.ABC):
    """The mutable state of one simulation run and its scheduler.

    Each handler takes the current time and its entity, may schedule the entity's next
    step and returns the event to emit (or ``None``). Subclasses add the handlers
    (:mod:`~infra.simulator.traffic`, :mod:`~infra.simulator.stories`) and
    :meth:`_seed_schedule`, the first step of every entity.
    """

    def __init__(self, cfg: SimConfig, tenant_ids: tuple[str, ...]) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        # whether an auto-assignment follows the routing recommendation: its own RNG, so
        # routing_follow_p = 0 leaves the run's stream as it was
        self.routing_rng = random.Random(f"{cfg.seed}/routing")
        self.heap: list[tuple[int, int, Handler, Any]] = []
        self.seq = itertools.count()
        self.now = to_ms(cfg.start)
        self.last_sec = -1
        self.last_prefix = ""
        self.categories = Weighted([(c, c.weight) for c in CATEGORIES])
        self.queue_of = {
            c.name: c.queue if c.queue in cfg.queues else cfg.queues[i % len(cfg.queues)]
            for i, c in enumerate(CATEGORIES)
        }
        self.category = {c.name: c for c in CATEGORIES}
        shares: dict[str, float] = {}
        for c in CATEGORIES:
            shares[self.queue_of[c.name]] = shares.get(self.queue_of[c.name], 0.0) + c.weight
        self.queue_share = {q: w / self.categories.total for q, w in shares.items()}
        self.tenants = [build_tenant(self.rng, cfg, name, i) for i, name in enumerate(tenant_ids)]

    @abc.abstractmethod
    def _seed_schedule(self) -> None:
        """Push each tenant's first events; the traffic layer above decides which."""

    def run(self) -> Iterator[Event]:
        self._seed_schedule()
        heap, pop = self.heap, heapq.heappop
        while True:
            t, _, handler, arg = pop(heap)
            self.now = t
            event = handler(t, arg)
            if event is not None:
                yield event

    def push(self, t: int, handler: Handler, arg: Any) -> None:
        """Schedule ``handler(t, arg)``; never in the past, so output order holds."""
        heapq.heappush(self.heap, (max(t, self.now), next(self.seq), handler, arg))

    def after(self, t: int, mean_ms: float, floor_ms: int) -> int:
        """``t`` plus an exponential delay: most waits are short, a few are very long."""
        return t + floor_ms + int(self.rng.expovariate(1.0 / mean_ms))

    def _next_arrival(self, t: int, per_ms: float) -> int:
        """Thinning (Lewis-Shedler): candidates at the peak rate, kept with p = demand."""
        rng = self.rng
        x = float(t)
        while True:
            x += rng.expovariate(per_ms)
            if rng.random() < demand_at(int(x)):
                return int(x)

    def _arrival(self, t: int, stream: Stream) -> Event:
        self.push(self._next_arrival(t, stream.per_ms), self._arrival, stream)
        return stream.spawn(t, stream.tenant)

    def _iso(self, t: int) -> str:
        sec, ms = divmod(t, 1000)
        if sec != self.last_sec:  # strftime is the slow part; bursts share a second
            self.last_sec = sec
            self.last_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self.last_prefix}.{ms:03d}Z"

    def env(
        self,
        t: int,
        event_type: str,
        tenant: str,
        source: str,
        payload: dict[str, Any],
        correlation_id: str | None = None,
    ) -> Event:
        return {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "event_type": event_type,
            "schema_version": 1,
            "tenant_id": tenant,
            "occurred_at": self._iso(t),
            "source": source,
            "correlation_id": correlation_id,
            "payload": payload,
        }
