"""Bytewax adapters for KB suggestions: ticket texts per ticket shard, clusters per tenant.

Online clustering depends on the order tickets arrive in (which ticket seeds a cluster
names its suggestion; an article before or after a cluster decides whether it opens).
Tickets and articles of one tenant come from different Kafka partitions, so arrival
order is an accident of consumption. The tenant's clusterer therefore holds its inputs
back until the tenant's watermark passes them and applies them in (event time, key)
order (:mod:`flows.core.stateful`): replays, restarts and any partition count give the
same suggestions. At the end of input everything left is applied, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flows.core.origin import EventLogic, derived_origin, event_order
from flows.core.stateful import EventTimeLogic, Origin
from flows.kb.clusters import KbClusters, ResolvedTicket, TicketTexts, kb_alert
from schemas.events import ClientErasureRequested, Event
from schemas.kb import KbSuggestion
from schemas.results import Alert
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig

KbOutput = KbSuggestion | Alert


@dataclass(frozen=True, slots=True)
class KbItem:
    """A resolved ticket, an article or an erasure, with what ordering it needs: its time (a late
    input's at the bound it missed), a unique tie-breaker and the input partition."""

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
    """An article (or an erasure: it goes to the tenant's clusters the same way)."""
    at, _ = event_order(a)
    return KbItem(at, f"a/{a.event.event_id}", a.partition, a.event)


def item_tenant(item: KbItem) -> str:
    return item.tenant_id


class TicketTextsLogic(EventLogic[TicketTexts, KbItem]):
    """Joins each ``ticket.resolved`` with its ``ticket.created`` text (one ticket shard)."""

    flow = "kb"
    cfg: FlowConfig  # the capability tunables, not only the core ones

    def new_state(self) -> TicketTexts:
        return TicketTexts(self.cfg.kb)

    def configure(self) -> None:
        self.state.cfg = self.cfg.kb  # changed settings apply from now on

    def on_item(self, item: Accepted) -> Iterable[KbItem]:
        request = item.event.payload
        if isinstance(request, ClientErasureRequested):  # reaches every ticket shard
            self.state.forget_client(item.event.tenant_id, request.client_id)
            return []
        bound = item.late_bound_ms
        return [
            KbItem(
                t.resolved_at_ms if bound is None else max(t.resolved_at_ms, bound),
                f"t/{t.ticket_id}",
                item.partition,
                t,
            )
            for t in self.state.on_event(item.event)
        ]


class KbClustersLogic(EventTimeLogic[KbClusters | None, KbItem, KbOutput]):
    """Clusters one tenant's resolved tickets, in event-time order; articles mark
    clusters covered."""

    flow = "kb"
    cfg: FlowConfig  # the capability tunables, not only the core ones
    hold = True

    def new_state(self) -> KbClusters | None:
        return None

    def tenant_of(self, item: KbItem) -> str:
        return item.tenant_id

    def order_of(self, item: KbItem) -> tuple[int, str]:
        return item.order()

    def origin_of(self, item: KbItem) -> Origin:
        v = item.value
        if isinstance(v, Event):
            return derived_origin(item.partition, "kb_article", str(v.event_id), v.tenant_id)
        return derived_origin(item.partition, "kb_ticket", v.ticket_id, v.tenant_id)

    def clusters(self, tenant: str) -> KbClusters:
        """The tenant's clusters (created with its first input)."""
        if self.state is None:
            self.state = KbClusters(tenant, self.cfg.kb)
        return self.state

    def on_item(self, item: KbItem) -> Iterable[KbOutput]:
        v = item.value
        if isinstance(v, ResolvedTicket):
            changes = self.clusters(item.tenant_id).on_resolved(v)
        elif isinstance(v.payload, ClientErasureRequested):
            erased = v.payload.client_id
            changes = [] if self.state is None else self.state.forget_client(erased, item.at_ms)
        else:
            changes = self.clusters(item.tenant_id).on_article(v)
        now = self.cfg.now()
        out: list[KbOutput] = []
        for change in changes:
            out.append(change.suggestion)
            if change.opened:
                out.append(kb_alert(change, now))
        return out
