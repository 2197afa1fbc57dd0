"""The base every event-time step shares: ticks, epochs, hold-back and poison-item
isolation, on :class:`flows.core.state.StateLogic` (snapshots, timer, end of input).

A step's input is its data items plus the ``Tick``s of :mod:`flows.core.clock`
(broadcast to every shard). The base keeps, per tenant:

- the watermark *received* in the current epoch. It is not applied yet: data that
  passed the input clock before the tick was computed may still be on its way through
  another path of the dataflow;
- the watermark *ready*: received in an epoch that has closed. Bytewax closes an epoch
  only once every item of it has been processed (``snapshot`` is called then), so
  every item the tick could concern has been applied, whatever the batch sizes;
- the watermark *applied*, which the subclass acts on (``on_watermark``).

Steps whose logic depends on the order of its inputs set ``hold = True``: items then
wait until their tenant's watermark passes them and are applied in (event time, key)
order, so a replay gives the same rows whatever interleaving the exchanges produced.

An exception raised by the logic for one item dead-letters that item (reason
``processing_error``, with the flow and the exception) and rolls the state back to the
start of the epoch, replaying the epoch's other inputs, so the state carries on as if
the poison item had never arrived. Exceptions when acting on a watermark are recorded
the same way (the tick is skipped; the next one retries).
"""

from __future__ import annotations

import heapq
import logging
from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from flows.core.clock import Tick
from flows.core.config import CoreConfig
from flows.core.sharding import stable_offset
from flows.core.state import StateLogic
from flows.core.watermark import NO_TIME
from schemas.results import DeadLetter, make_dead_letter

log = logging.getLogger(__name__)

S = TypeVar("S")
X = TypeVar("X")
Y = TypeVar("Y")

_SOON = timedelta(seconds=1)


@dataclass
class StepTime(Generic[X]):
    """Watermarks of one step instance, per tenant, and the items it holds back."""

    applied: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)  # tenant -> src -> wm
    received: set[str] = field(default_factory=set)  # tenants ticked in the current epoch
    ready: dict[str, int] = field(default_factory=dict)
    # per tenant, a heap of (time, key, arrival number, item): the arrival number breaks
    # ties (an event re-sent after dedup forgot it), so items are never compared
    held: dict[str, list[tuple[int, str, int, X]]] = field(default_factory=dict)
    arrivals: int = 0

    def watermark(self, tenant: str) -> int:
        return self.applied.get(tenant, NO_TIME)

    def promote(self, sources: int) -> None:
        """The epoch closed: each ticked tenant's minimum over all sources is ready."""
        for tenant in self.received:
            marks = self.by_source[tenant]
            if len(marks) >= sources:
                wm = min(marks.values())
                if wm > self.ready.get(tenant, NO_TIME):
                    self.ready[tenant] = wm
        self.received = set()


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an item came from, for its dead letter if the logic fails on it."""

    partition: int
    offset: int
    key: bytes | None
    raw: bytes


class EventTimeLogic(StateLogic[S], Generic[S, X, Y]):
    """Base of every stateful step that decides on event time (see module docstring)."""

    hold: ClassVar[bool] = False  # apply items in event-time order behind the watermark
    forward: ClassVar[bool] = False  # emit each applied watermark after its outputs

    def __init__(self, cfg: CoreConfig, snapshot: bytes | None) -> None:
        self.time: StepTime[X]
        super().__init__(cfg, snapshot)
        self._saved = snapshot
        self._log: list[tuple[str, Any]] = []
        self._poisoned: set[int] = set()  # items that failed in this epoch (by id)
        self._failed: set[tuple[str, int]] = set()  # decisions that failed in this epoch
        self._replaying = False

    # ---- what a subclass provides (and ``new_state``, ``configure``, ``on_timer``,
    # ``on_end`` of :class:`StateLogic`) --------------------------------------------------

    @abstractmethod
    def tenant_of(self, item: X) -> str: ...

    def order_of(self, item: X) -> tuple[int, str]:
        """(event time, unique key): the order held items are applied in. A late item
        uses the bound it missed as its time (never behind an applied watermark, and a
        function of its partition alone), so where it lands does not depend on timing."""
        raise NotImplementedError(f"{type(self).__name__} holds items but has no order_of")

    def tick_sources(self) -> int:
        """How many sources vouch for a tenant's watermark (1: the input clock)."""
        return 1

    @abstractmethod
    def origin_of(self, item: X) -> Origin:
        """The input message behind ``item``, for its dead letter."""

    @abstractmethod
    def on_item(self, item: X) -> Iterable[Y]:
        """Fold one item in (in arrival order, or in event-time order when held)."""

    def on_watermark(self, tenant: str, watermark_ms: int) -> Iterable[Y]:
        """Act on the tenant's watermark: close windows, fire deadlines..."""
        return ()

    # ---- the snapshot holds the state and the step's watermarks and held items -------

    def payload(self) -> object:
        return self.state, self.time

    def adopt(self, payload: Any | None) -> None:
        if payload is None:
            self.state, self.time = self.new_state(), StepTime()
        else:
            self.state, self.time = payload

    # ---- Bytewax ----------------------------------------------------------------------

    def on_batch(self, values: list[Any]) -> tuple[Iterable[Y | DeadLetter], bool]:
        out: list[Any] = []
        t = self.time
        for v in values:
            if isinstance(v, Tick):
                marks = t.by_source.setdefault(v.tenant_id, {})
                if v.watermark_ms > marks.get(v.source, NO_TIME):
                    marks[v.source] = v.watermark_ms
                    t.received.add(v.tenant_id)
            else:
                self._receive(v, out)
        self._apply_ready(out)
        return out, False

    def on_notify(self) -> tuple[Iterable[Y | DeadLetter], bool]:
        out: list[Any] = []
        self._apply_ready(out)
        self.timer.restart()
        try:
            out.extend(self.on_timer())
        except Exception as exc:  # a live row must never stop the flow
            log.exception("%s: live rows failed", self.flow)
            out.append(self._step_letter("timer", exc))
        return out, False

    def end_of_input(self) -> Iterable[Y | DeadLetter]:
        out: list[Any] = []
        t = self.time
        t.promote(self.tick_sources())
        self._apply_ready(out)
        for tenant in sorted(t.held):
            self._release(tenant, None, out)
        try:
            out.extend(self.on_end())
        except Exception as exc:
            log.exception("%s: end of input failed", self.flow)
            out.append(self._step_letter("end", exc))
        return out

    def notify_at(self) -> datetime:
        if self.time.ready or self.time.received:  # apply soon after the epoch closes
            return self.timer.due_within(_SOON)
        return self.timer.due

    def snapshot(self) -> bytes:
        """Called when an epoch closes: what arrived in it becomes applicable."""
        self.time.promote(self.tick_sources())
        saved = super().snapshot()
        self._saved = saved
        self._log.clear()
        self._poisoned.clear()
        self._failed.clear()
        return saved

    # ---- internals --------------------------------------------------------------------
    #
    # Every state change goes through one of four logged steps, so that a rollback can
    # replay the epoch exactly up to the failure: "in" (an item received), "pop" (the
    # next held item applied), "at" (decisions up to a time) and "wm" (a watermark
    # applied). Outputs of a replay are dropped: they were emitted the first time.

    def _receive(self, item: X, out: list[Any]) -> None:
        self._log.append(("in", item))
        if not self.hold:
            self._apply(item, out)
            return
        tenant = self.tenant_of(item)
        at, key = self.order_of(item)
        if at < self.time.watermark(tenant):  # cannot happen for stamped input: be safe
            self._apply(item, out)
            return
        t = self.time
        t.arrivals += 1
        heapq.heappush(t.held.setdefault(tenant, []), (at, key, t.arrivals, item))

    def _apply(self, item: X, out: list[Any]) -> None:
        if id(item) in self._poisoned:
            return
        try:
            produced = self.on_item(item)
            out.extend(produced)
        except Exception as exc:
            self._poisoned.add(id(item))
            if self._replaying:  # failed only now: cannot happen with pure logic
                log.error("%s: item failed on replay only: %r", self.flow, exc)
                return
            out.append(self._item_letter(item, exc))
            self._rollback()

    def _apply_ready(self, out: list[Any]) -> None:
        t = self.time
        if not t.ready:
            return
        ready, t.ready = t.ready, {}
        for tenant in sorted(ready):
            wm = ready[tenant]
            if wm > t.watermark(tenant):
                self._release(tenant, wm, out)
                self._decide(tenant, wm, out, final=True)

    def _release(self, tenant: str, upto: int | None, out: list[Any]) -> None:
        """Apply held items of ``tenant`` stamped before ``upto`` (all when None), each
        after the decisions that fall due before it, so the same items and deadlines
        give the same outputs however watermarks are batched."""
        while True:
            heap = self.time.held.get(tenant)  # a rollback may have replaced it
            if not heap:
                self.time.held.pop(tenant, None)
                return
            at = heap[0][0]
            if upto is not None and at >= upto:
                return
            self._decide(tenant, at, out)
            self._log.append(("pop", tenant))
            self._pop_apply(tenant, out)

    def _pop_apply(self, tenant: str, out: list[Any]) -> None:
        self._apply(heapq.heappop(self.time.held[tenant])[3], out)

    def _decide(self, tenant: str, at: int, out: list[Any], *, final: bool = False) -> None:
        """Decisions of ``tenant`` up to ``at``; ``final``: ``at`` is a watermark."""
        if at <= self.time.watermark(tenant) or (tenant, at) in self._failed:
            return
        self._log.append(("wm" if final else "at", (tenant, at)))
        try:
            produced = list(self.on_watermark(tenant, at))
        except Exception as exc:
            if self._replaying:
                log.debug("%s: decisions at %d still fail on replay: %r", self.flow, at, exc)
                return
            log.exception("%s: decisions at %d of tenant %s failed", self.flow, at, tenant)
            out.append(self._step_letter(f"watermark/{tenant}/{at}", exc))
            self._failed.add((tenant, at))
            self._rollback()
            return
        self.time.applied[tenant] = at
        out.extend(produced)
        if final and self.forward:
            out.append(Tick(tenant, at))

    def _rollback(self) -> None:
        """Back to the epoch's start, then replay its inputs except the poisoned ones."""
        entries = list(self._log)
        t = self.time
        by_source, received, ready = t.by_source, t.received, t.ready
        self.restore(self._saved)
        self._log = []
        sink: list[Any] = []
        self._replaying = True
        try:
            for kind, value in entries:
                if kind == "in":
                    self._receive(value, sink)
                elif kind == "pop":
                    self._log.append(("pop", value))
                    self._pop_apply(value, sink)
                else:
                    tenant, at = value
                    self._decide(tenant, at, sink, final=kind == "wm")
        finally:
            self._replaying = False
        t = self.time
        t.by_source, t.received, t.ready = by_source, received, ready

    def _item_letter(self, item: X, exc: Exception) -> DeadLetter:
        o = self.origin_of(item)
        log.warning("%s: processing error on %s/%d: %r", self.flow, "input", o.offset, exc)
        return make_dead_letter(
            topic=self.cfg.events_topic,
            partition=o.partition,
            offset=o.offset,
            key=o.key,
            raw=o.raw,
            reason="processing_error",
            error=f"{type(exc).__name__}: {exc}",
            received_at=self.cfg.now(),
            flow=self.flow,
        )

    def _step_letter(self, what: str, exc: Exception) -> DeadLetter:
        return make_dead_letter(
            topic=self.cfg.events_topic,
            partition=-1,
            offset=stable_offset(self.flow, what),
            key=None,
            raw=what.encode(),
            reason="processing_error",
            error=f"{type(exc).__name__}: {exc}",
            received_at=self.cfg.now(),
            flow=self.flow,
        )
