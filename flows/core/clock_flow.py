"""Wiring of the input clock (:mod:`flows.core.clock`) and of tick broadcasts.

``add_clock`` keys accepted events by input partition (one ``PartitionClock`` each, fed
in offset order because no exchange has reordered the input yet), folds their progress
into one ``TenantClocks`` and returns the stamped events and the tick stream.
``with_ticks`` joins a keyed data stream with the ticks every one of its keys needs;
``ticked`` runs an event-time step on such a stream, ``per_tenant`` one keyed by tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import KeyedStream, StatefulBatchLogic

from flows.core.clock import PartitionClock, Progress, TenantClocks, Tick
from flows.core.config import CoreConfig
from flows.core.keys import event_tenant
from flows.core.state import StateLogic
from flows.core.timeutil import to_ms
from flows.core.wiring import select, stateful
from schemas.transport import Accepted

X = TypeVar("X")
T = TypeVar("T")
_CLOCK_KEY = "all"


def _lateness_ms(cfg: CoreConfig) -> int:
    return int(cfg.allowed_lateness_s * 1000)


class PartitionClockLogic(StateLogic[PartitionClock]):
    """One input partition's clock; the key is the partition."""

    flow = "clock"

    def new_state(self) -> PartitionClock:
        return PartitionClock(_lateness_ms(self.cfg))

    def configure(self) -> None:
        self.state.lateness_ms = _lateness_ms(self.cfg)

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[Accepted | Progress], bool]:
        if values:
            self.state.partition = values[0].partition
        stamped, progress = self.state.judge(values, to_ms(self.cfg.now()))
        out: list[Accepted | Progress] = [*stamped, *progress]
        return out, False


class TenantClocksLogic(StateLogic[TenantClocks]):
    """Every tenant's watermark over the whole input (a single key); in live mode the
    timer moves silent tenants on by wall time."""

    flow = "clock"

    def new_state(self) -> TenantClocks:
        return TenantClocks(_lateness_ms(self.cfg))

    def configure(self) -> None:
        cfg = self.cfg
        self.state.configure(
            _lateness_ms(cfg),
            cfg.input_partitions,
            cfg.idle_advance,
            int(cfg.idle_timeout_s * 1000),
        )

    def timed(self) -> bool:
        return self.cfg.idle_advance

    def on_batch(self, values: list[Progress]) -> tuple[Iterable[Tick], bool]:
        return self.state.observe(values, to_ms(self.cfg.now())), False

    def on_timer(self) -> Iterable[Tick]:
        return self.state.idle(to_ms(self.cfg.now()))

    def on_end(self) -> Iterable[Tick]:
        return self.state.final()


def partition_key(a: Accepted) -> str:
    return str(a.partition)


def by_partition(items: list[Accepted]) -> list[tuple[str, Accepted]]:
    """:func:`partition_key` of a whole batch, as a keyed stream's items."""
    return [(str(a.partition), a) for a in items]


def judged_events(items: list[tuple[str, Accepted | Progress]]) -> list[Accepted]:
    """The stamped events of a batch of the partition clocks' output, in order."""
    return [v for _, v in items if isinstance(v, Accepted)]


def progress_all(items: list[tuple[str, Accepted | Progress]]) -> list[tuple[str, Progress]]:
    """The progress reports of a batch of the partition clocks' output, keyed for the one
    ``TenantClocks``."""
    return [(_CLOCK_KEY, v) for _, v in items if isinstance(v, Progress)]


def add_clock(accepted: Stream[Accepted], cfg: CoreConfig) -> tuple[Stream[Accepted], Stream[Tick]]:
    """Lateness verdicts on every event and the per-tenant tick stream (the per-event
    steps take whole batches: one Python call per batch each)."""
    keyed = op.flat_map_batch("by_partition", accepted, by_partition)
    judged = op.stateful_batch("partition_clock", keyed, partial(PartitionClockLogic, cfg))
    events = op.flat_map_batch("judged_events", judged, judged_events)
    clocks = op.flat_map_batch("progress_all", judged, progress_all)
    ticks = stateful("ticks", "tenant_clocks", clocks, partial(TenantClocksLogic, cfg))
    return events, ticks


def to_shards(shards: int, tick: Tick) -> list[tuple[str, Tick]]:
    """A tick for every shard: a sparse shard must close its windows too."""
    return [(str(i), tick) for i in range(shards)]


def to_tenant(tick: Tick) -> tuple[str, Tick]:
    return tick.tenant_id, tick


def with_ticks(
    step_id: str, data: KeyedStream[X], ticks: Stream[Tick], shards: int | None
) -> KeyedStream[X | Tick]:
    """``data`` plus the ticks its keys need: every shard (``shards``), or the tick's
    tenant (``None``: the step is keyed by tenant)."""
    if shards is None:
        keyed: KeyedStream[Tick] = op.map(f"{step_id}_ticks", ticks, to_tenant)
    else:
        keyed = op.flat_map(f"{step_id}_ticks", ticks, partial(to_shards, shards))
    return op.merge(f"{step_id}_with_ticks", data, keyed)


def ticked(
    out_id: str,
    step_id: str,
    data: KeyedStream[X],
    ticks: Stream[Tick],
    shards: int | None,
    builder: Callable[[bytes | None], StatefulBatchLogic[Any, Any, bytes]],
) -> Stream[Any]:
    """An event-time step: ``data`` with the ticks its keys need (see :func:`with_ticks`)
    into the stateful step ``step_id``, its output without the keys (``out_id``)."""
    return stateful(out_id, step_id, with_ticks(step_id, data, ticks, shards), builder)


def per_tenant(
    step_id: str,
    events: Stream[Accepted],
    types: frozenset[str],
    ticks: Stream[Tick],
    builder: Callable[[bytes | None], StatefulBatchLogic[Any, Any, bytes]],
) -> Stream[Any]:
    """A per-tenant event-time step over the events of ``types`` (stateless steps named
    ``<step_id>_events``, ``_by_tenant``, ``_out``)."""
    by_tenant = op.key_on(
        f"{step_id}_by_tenant", select(f"{step_id}_events", events, types), event_tenant
    )
    return ticked(f"{step_id}_out", step_id, by_tenant, ticks, None, builder)


def sourced(kv: tuple[str, T]) -> T:
    """Drop the key of a stateful step's output; a forwarded tick names the shard that
    forwarded it (its downstream takes the minimum over shards)."""
    key, value = kv
    if isinstance(value, Tick):
        return replace(value, source=key)
    return value
