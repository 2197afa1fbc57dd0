"""Bytewax adapters for KB suggestions: ticket texts per ticket shard, clusters per tenant.

Online clustering depends on the order tickets arrive in (which ticket seeds a cluster
names its suggestion; an article before or after a cluster decides whether it opens).
Tickets and articles of one tenant come from different Kafka partitions, so arrival
order is an accident of consumption. The tenant's clusterer therefore holds its inputs
back until the tenant's watermark (min over input partitions, minus the allowed
lateness) passes them, and applies them in (event time, id) order: replays, restarts and
any partition count give the same suggestions. At the end of input everything left is
applied, in the same order.
"""

from __future__ import annotations

import heapq
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bytewax.operators import StatefulBatchLogic

from flows.config import FlowConfig
from flows.kb import KbClusters, ResolvedTicket, TicketTexts, kb_alert
from flows.stateful_ops import event_order
from flows.timeutil import to_ms
from flows.watermark import Watermark
from schemas.events import Event
from schemas.kb import KbSuggestion
from schemas.results import Alert
from schemas.transport import Accepted

KbOutput = KbSuggestion | Alert


@dataclass(frozen=True, slots=True)
class KbItem:
    """A resolved ticket or an article, with what ordering it needs: event time, a
    unique tie-breaker and the input partition it came from."""

    at_ms: int
    key: str
    partition: int
    value: ResolvedTicket | Event

    @property
    def tenant_id(self) -> str:
        return self.value.tenant_id

    def order(self) -> tuple[int, str]:
        return self.at_ms, self.key


def article_item(a: Accepted) -> KbItem:
    return KbItem(to_ms(a.event.occurred_at), f"a/{a.event.event_id}", a.partition, a.event)


def item_tenant(item: KbItem) -> str:
    return item.tenant_id


class TicketTextsLogic(StatefulBatchLogic[Accepted, KbItem, bytes]):
    """Joins each ``ticket.resolved`` with its ``ticket.created`` text (one ticket shard)."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.texts: TicketTexts = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else TicketTexts(cfg.kb)
        )
        self.texts.cfg = cfg.kb  # changed settings apply from now on

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[KbItem], bool]:
        out: list[KbItem] = []
        for a in sorted(values, key=event_order):
            for t in self.texts.on_event(a.event):
                out.append(KbItem(t.resolved_at_ms, f"t/{t.ticket_id}", a.partition, t))
        return out, False

    def snapshot(self) -> bytes:
        return pickle.dumps(self.texts, protocol=pickle.HIGHEST_PROTOCOL)


@dataclass
class KbTenantState:
    clusters: KbClusters | None = None
    watermark: Watermark = field(default_factory=lambda: Watermark(0))
    pending: list[tuple[int, str, KbItem]] = field(default_factory=list)  # a heap


class KbClustersLogic(StatefulBatchLogic[KbItem, KbOutput, bytes]):
    """Clusters one tenant's resolved tickets, in event-time order; articles mark
    clusters covered."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.cfg = cfg
        self.state: KbTenantState = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else KbTenantState()
        )
        wm = self.state.watermark
        wm.lateness_ms = int(cfg.allowed_lateness_s * 1000)
        wm.idle_advance = cfg.idle_advance
        wm.partitions = cfg.input_partitions
        self._interval = timedelta(seconds=cfg.provisional_interval_s)
        self._next_notify = cfg.now() + self._interval

    def _apply(self, item: KbItem, now: datetime, out: list[KbOutput]) -> None:
        s = self.state
        if s.clusters is None:
            s.clusters = KbClusters(item.tenant_id, self.cfg.kb)
        if isinstance(item.value, ResolvedTicket):
            changes = s.clusters.on_resolved(item.value)
        else:
            changes = s.clusters.on_article(item.value)
        for change in changes:
            out.append(change.suggestion)
            if change.opened:
                out.append(kb_alert(change, now))

    def _release(self, *, end_of_input: bool = False) -> list[KbOutput]:
        """Apply every held item the watermark has passed (all of them at the end)."""
        now = self.cfg.now()
        s = self.state
        upto = s.watermark.current(to_ms(now))
        out: list[KbOutput] = []
        while s.pending and (end_of_input or s.pending[0][0] <= upto):
            self._apply(heapq.heappop(s.pending)[2], now, out)
        return out

    def on_batch(self, values: list[KbItem]) -> tuple[Iterable[KbOutput], bool]:
        s = self.state
        now_ms = to_ms(self.cfg.now())
        for item in values:
            s.watermark.observe(item.partition, item.at_ms, now_ms)
            heapq.heappush(s.pending, (*item.order(), item))
        return self._release(), False

    def on_notify(self) -> tuple[Iterable[KbOutput], bool]:
        self._next_notify = self.cfg.now() + self._interval
        return self._release(), False

    def on_eof(self) -> tuple[Iterable[KbOutput], bool]:
        return self._release(end_of_input=True), False

    def notify_at(self) -> datetime:
        return self._next_notify

    def snapshot(self) -> bytes:
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)
