"""KB-suggestion dataflow: ticket texts joined per ticket shard, clustered per tenant,
with articles marking clusters covered; suggestions to ClickHouse, alerts out."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.core.clock import Tick
from flows.core.clock_flow import ticked
from flows.core.io import FlowIO
from flows.core.keys import erasures_to_every_shard, ticket_key
from flows.core.outputs import KB_SUGGESTIONS
from flows.core.wiring import Emitted, letters, pick, pick_out, select, stateful
from flows.kb.stateful import (
    KbClustersLogic,
    KbItem,
    TicketTextsLogic,
    article_item,
    item_tenant,
)
from schemas.privacy import ERASURE_EVENT
from schemas.results import Alert
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig

# an erasure reaches every ticket shard (texts) and the tenant's clusters (in event time)
TICKET_TEXT_TYPES = frozenset({"ticket.created", "ticket.resolved", ERASURE_EVENT})
ARTICLE_TYPES = frozenset({"kb.article_created", ERASURE_EVENT})


def add_kb(events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO) -> Emitted:
    texts = select("kb_ticket_events", events, TICKET_TEXT_TYPES)
    tickets = op.flat_map_batch(
        "kb_by_ticket",
        texts,
        partial(erasures_to_every_shard, cfg.shards, partial(ticket_key, cfg.shards)),
    )
    texts_out = stateful("kb_resolved", "kb_texts", tickets, partial(TicketTextsLogic, cfg))
    articles = op.map(
        "kb_article_items", select("kb_articles", events, ARTICLE_TYPES), article_item
    )
    inputs: Stream[KbItem] = op.merge(
        "kb_inputs", pick("kb_resolved_items", texts_out, KbItem), articles
    )
    by_tenant = op.key_on("kb_by_tenant", inputs, item_tenant)
    clusters = partial(KbClustersLogic, cfg)
    out = ticked("kb_out", "kb_clusters", by_tenant, ticks, None, clusters)
    pick_out(io, "kb_rows", "kb_suggestions_out", out, KB_SUGGESTIONS)
    return Emitted(
        pick("kb_alerts", out, Alert),
        letters("kb_dead_letters", ("kb_texts_letters", texts_out), ("kb_cluster_letters", out)),
    )
