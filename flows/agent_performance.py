"""Agent performance dataflow: ticket events -> agent facts -> windowed metrics.

Also raises coaching alerts for low CSAT. The logic lives in pure modules; this only
wires keys, state and sinks.
"""

from __future__ import annotations

from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.coaching import coaching_alert
from flows.config import FlowConfig
from flows.io import FlowIO
from flows.routing import agent_shard, concerns_agents, is_window_row, ticket_shard
from flows.stateful import AgentWindowLogic, TicketFactsLogic
from schemas.results import Alert
from schemas.transport import Accepted


def _coaching(cfg: FlowConfig, a: Accepted) -> Alert | None:
    return coaching_alert(a.event, cfg.now())


def add_agent_performance(events: Stream[Accepted], cfg: FlowConfig, io: FlowIO) -> None:
    relevant = op.filter("agent_events", events, concerns_agents)
    by_ticket = op.key_on("by_ticket", relevant, partial(ticket_shard, cfg.shards))
    facts = op.key_rm(
        "facts", op.stateful_batch("ticket_facts", by_ticket, partial(TicketFactsLogic, cfg))
    )
    by_agent = op.key_on("by_agent", facts, partial(agent_shard, cfg.shards))
    results = op.key_rm(
        "windows", op.stateful_batch("agent_windows", by_agent, partial(AgentWindowLogic, cfg))
    )
    split = op.branch("window_or_late", results, is_window_row)
    op.output("agent_performance_out", split.trues, io.sink("agent_performance"))
    op.output("late_events_out", split.falses, io.sink("late_events"))

    alerts = op.filter_map("coaching", relevant, partial(_coaching, cfg))
    op.output("alerts_out", alerts, io.sink("alerts"))
    op.output("alerts_topic_out", alerts, io.sink("alerts_topic"))
