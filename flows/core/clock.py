"""The event-time clock of the whole input: lateness verdicts and per-tenant watermarks.

Two pure pieces, run by two steps right after decoding, before any keyed exchange
reorders the input:

- ``PartitionClock`` (one per input partition) sees its partition in offset order and
  judges lateness per tenant: an event is late when it is stamped more than the allowed
  lateness behind the newest event of *its tenant* earlier on *the same partition*. The
  verdict is a function of that partition's sequence alone, so neither batch sizes nor
  the way partitions interleave nor another tenant's clock can change it. It reports,
  per tenant, the newest event time it has seen (``Progress``).
- ``TenantClocks`` (one for the whole input) folds those reports into one watermark per
  tenant: the minimum over input partitions of the tenant's newest event time there,
  minus the allowed lateness (see :class:`Watermark`). Each advance becomes a ``Tick``,
  broadcast to every shard of every stateful step, as Flink broadcasts watermarks
  across keyed exchanges.

Why an on-time event is never behind a tick that was already applied: an event on
partition q is on time iff ``ts >= newest_q - lateness``, and any watermark computed
before it passed the clock is ``<= newest_q - lateness``. Steps apply a tick only once
the epoch it arrived in has closed (:mod:`flows.core.stateful`), so every event that
passed the clock before the tick was computed has been applied by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flows.core.timeutil import to_ms
from flows.core.watermark import NO_TIME, Watermark
from schemas.transport import Accepted


@dataclass(frozen=True, slots=True)
class Tick:
    """A tenant's watermark: every event time below it is settled.

    ``source``: who vouches for it: the input clock, or one shard of an upstream step
    that forwards the watermark after acting on it (so everything it emitted because
    of the watermark travels ahead of it). A step takes the minimum over its sources.
    """

    tenant_id: str
    watermark_ms: int
    source: str = "clock"


@dataclass(frozen=True, slots=True)
class Progress:
    """The newest event time of a tenant on one input partition (and when it was seen)."""

    tenant_id: str
    partition: int
    newest_ms: int
    wall_ms: int


@dataclass
class PartitionClock:
    """One input partition: the newest event time per tenant, and lateness verdicts."""

    lateness_ms: int
    partition: int = 0
    newest: dict[str, int] = field(default_factory=dict)

    def judge(self, items: list[Accepted], wall_ms: int) -> tuple[list[Accepted], list[Progress]]:
        """Stamp late events with the bound they missed; report each tenant moved."""
        out: list[Accepted] = []
        moved: set[str] = set()
        newest = self.newest
        lateness = self.lateness_ms
        for a in items:
            tenant = a.event.tenant_id
            ts = to_ms(a.event.occurred_at)
            top = newest.get(tenant, NO_TIME)
            if ts > top:
                newest[tenant] = ts
                moved.add(tenant)
                out.append(a)
            elif ts < top - lateness:
                out.append(replace(a, late_bound_ms=top - lateness))
            else:
                out.append(a)
        progress = [Progress(t, self.partition, newest[t], wall_ms) for t in sorted(moved)]
        return out, progress


@dataclass
class TenantClocks:
    """Per-tenant watermarks over all input partitions; emits a tick when one advances.

    ``partitions``: the input partition count; a partition a tenant has not written to
    yet holds the tenant's watermark back (in live mode only until it has been idle for
    ``idle_timeout_ms`` of wall time; in a bounded replay until the input ends, so the
    replay's results never depend on processing speed).
    """

    lateness_ms: int
    partitions: int | None = None
    idle_advance: bool = False
    idle_timeout_ms: int = 30_000
    clocks: dict[str, Watermark] = field(default_factory=dict)
    emitted: dict[str, int] = field(default_factory=dict)

    def configure(
        self, lateness_ms: int, partitions: int | None, idle_advance: bool, idle_timeout_ms: int
    ) -> None:
        """Run-level settings may differ between runs of the same state."""
        self.lateness_ms, self.partitions = lateness_ms, partitions
        self.idle_advance, self.idle_timeout_ms = idle_advance, idle_timeout_ms
        for wm in self.clocks.values():
            wm.lateness_ms, wm.partitions = lateness_ms, partitions
            wm.idle_advance, wm.idle_timeout_ms = idle_advance, idle_timeout_ms

    def observe(self, reports: list[Progress], now_ms: int) -> list[Tick]:
        """Fold progress reports in; ticks of the tenants whose watermark advanced."""
        touched: set[str] = set()
        for r in reports:
            wm = self.clocks.get(r.tenant_id)
            if wm is None:
                wm = self.clocks[r.tenant_id] = Watermark(
                    self.lateness_ms,
                    idle_advance=self.idle_advance,
                    partitions=self.partitions,
                    idle_timeout_ms=self.idle_timeout_ms,
                )
            wm.observe(r.partition, r.newest_ms, r.wall_ms)
            touched.add(r.tenant_id)
        return self._ticks(sorted(touched), now_ms)

    def idle(self, now_ms: int) -> list[Tick]:
        """Live mode: ticks of tenants moved on by idleness (silent partitions, wall time)."""
        return self._ticks(sorted(self.clocks), now_ms) if self.idle_advance else []

    def final(self) -> list[Tick]:
        """End of input: every partition is caught up, so each tenant's watermark is its
        newest event time minus the lateness (only the tail within lateness stays open)."""
        out: list[Tick] = []
        for tenant in sorted(self.clocks):
            wm = self.clocks[tenant]
            at = max(wm.floor_ms, wm.newest_ms - wm.lateness_ms)
            if at > self.emitted.get(tenant, NO_TIME):
                self.emitted[tenant] = at
                out.append(Tick(tenant, at))
        return out

    def _ticks(self, tenants: list[str], now_ms: int) -> list[Tick]:
        out: list[Tick] = []
        for tenant in tenants:
            at = self.clocks[tenant].current(now_ms)
            if at > self.emitted.get(tenant, NO_TIME):
                self.emitted[tenant] = at
                out.append(Tick(tenant, at))
        return out
