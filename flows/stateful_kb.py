"""Bytewax adapters for KB suggestions: ticket texts per ticket shard, clusters per tenant.

Each batch is applied in event-time order (ties by id), so upstream shuffling within a
batch never changes the clusters.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable

from bytewax.operators import StatefulBatchLogic

from flows.config import FlowConfig
from flows.kb import KbClusters, ResolvedTicket, TicketTexts, kb_alert
from flows.stateful_ops import event_order
from flows.timeutil import to_ms
from schemas.kb import KbSuggestion
from schemas.results import Alert
from schemas.transport import Accepted

KbInput = ResolvedTicket | Accepted
KbOutput = KbSuggestion | Alert


class TicketTextsLogic(StatefulBatchLogic[Accepted, ResolvedTicket, bytes]):
    """Joins each ``ticket.resolved`` with its ``ticket.created`` text (one ticket shard)."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.texts: TicketTexts = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else TicketTexts(cfg.kb)
        )
        self.texts.cfg = cfg.kb  # changed settings apply from now on

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[ResolvedTicket], bool]:
        out: list[ResolvedTicket] = []
        for a in sorted(values, key=event_order):
            out.extend(self.texts.on_event(a.event))
        return out, False

    def snapshot(self) -> bytes:
        return pickle.dumps(self.texts, protocol=pickle.HIGHEST_PROTOCOL)


def tenant_of(item: KbInput) -> str:
    return item.tenant_id if isinstance(item, ResolvedTicket) else item.event.tenant_id


def kb_order(item: KbInput) -> tuple[int, str]:
    if isinstance(item, ResolvedTicket):
        return item.resolved_at_ms, item.ticket_id
    return to_ms(item.event.occurred_at), str(item.event.event_id)


class KbClustersLogic(StatefulBatchLogic[KbInput, KbOutput, bytes]):
    """Clusters one tenant's resolved tickets; articles mark clusters covered."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.cfg = cfg
        self.clusters: KbClusters | None = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else None
        )

    def on_batch(self, values: list[KbInput]) -> tuple[Iterable[KbOutput], bool]:
        now = self.cfg.now()
        out: list[KbOutput] = []
        for item in sorted(values, key=kb_order):
            if self.clusters is None:
                self.clusters = KbClusters(tenant_of(item), self.cfg.kb)
            if isinstance(item, ResolvedTicket):
                changes = self.clusters.on_resolved(item)
            else:
                changes = self.clusters.on_article(item.event)
            for change in changes:
                out.append(change.suggestion)
                if change.opened:
                    out.append(kb_alert(change, now))
        return out, False

    def snapshot(self) -> bytes:
        return pickle.dumps(self.clusters, protocol=pickle.HIGHEST_PROTOCOL)
