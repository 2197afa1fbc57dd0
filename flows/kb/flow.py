"""KB-suggestion dataflow: ticket texts joined per ticket shard, clustered per tenant,
with articles marking clusters covered; suggestions to ClickHouse, alerts out."""

from __future__ import annotations

from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.config import FlowConfig
from flows.core.clock import Tick
from flows.core.clock_flow import with_ticks
from flows.core.io import FlowIO
from flows.core.keys import instance_of, ticket_key
from flows.kb.stateful import (
    KbClustersLogic,
    KbItem,
    TicketTextsLogic,
    article_item,
    item_tenant,
)
from schemas.kb import KbSuggestion
from schemas.results import Alert, DeadLetter
from schemas.transport import Accepted

TICKET_TEXT_TYPES = frozenset({"ticket.created", "ticket.resolved"})


def about_ticket_text(a: Accepted) -> bool:
    return a.event.event_type in TICKET_TEXT_TYPES


def is_article(a: Accepted) -> bool:
    return a.event.event_type == "kb.article_created"


def add_kb(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Stream[DeadLetter]:
    tickets = op.key_on(
        "kb_by_ticket",
        op.filter("kb_ticket_events", events, about_ticket_text),
        partial(ticket_key, cfg.shards),
    )
    texts_out = op.key_rm(
        "kb_resolved", op.stateful_batch("kb_texts", tickets, partial(TicketTextsLogic, cfg))
    )
    resolved = op.filter_map("kb_resolved_items", texts_out, partial(instance_of, KbItem))
    articles = op.map(
        "kb_article_items", op.filter("kb_articles", events, is_article), article_item
    )
    inputs: Stream[KbItem] = op.merge("kb_inputs", resolved, articles)
    by_tenant = op.key_on("kb_by_tenant", inputs, item_tenant)
    out = op.key_rm(
        "kb_out",
        op.stateful_batch(
            "kb_clusters",
            with_ticks("kb_clusters", by_tenant, ticks, None),
            partial(KbClustersLogic, cfg),
        ),
    )
    op.output(
        "kb_suggestions_out",
        op.filter_map("kb_rows", out, partial(instance_of, KbSuggestion)),
        io.sink("kb_suggestions"),
    )
    alerts = op.filter_map("kb_alerts", out, partial(instance_of, Alert))
    op.output("kb_alerts_out", alerts, io.sink("alerts"))
    op.output("kb_alerts_topic_out", alerts, io.sink("alerts_topic"))
    return op.merge(
        "kb_dead_letters",
        op.filter_map("kb_texts_letters", texts_out, partial(instance_of, DeadLetter)),
        op.filter_map("kb_cluster_letters", out, partial(instance_of, DeadLetter)),
    )
