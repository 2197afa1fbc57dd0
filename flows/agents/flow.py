"""Agent performance dataflow: ticket events -> agent facts -> windowed metrics.

Also raises coaching alerts for low CSAT. The logic lives in pure modules; this only
wires keys, ticks, state and sinks.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.agents.coaching import coaching_alert
from flows.agents.facts import AGENT_EVENT_TYPES, AgentFact
from flows.agents.keys import agent_shard
from flows.agents.stateful import AgentWindowLogic, TicketFactsLogic
from flows.core.clock import Tick
from flows.core.clock_flow import ticked
from flows.core.io import FlowIO
from flows.core.keys import erasures_to_every_shard, ticket_shard
from flows.core.outputs import AGENT_PERFORMANCE, LATE_EVENTS
from flows.core.wiring import Emitted, letters, pick, pick_out, select, stateful
from schemas.privacy import ERASURE_EVENT
from schemas.results import Alert
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


def _coaching(cfg: FlowConfig, a: Accepted) -> Alert | None:
    return coaching_alert(a.event, cfg.now())


def add_agent_performance(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Emitted:
    # an erasure reaches every ticket shard: any may hold the client's tickets
    relevant = select("agent_events", events, AGENT_EVENT_TYPES | {ERASURE_EVENT})
    by_ticket = op.flat_map_batch(
        "by_ticket",
        relevant,
        partial(erasures_to_every_shard, cfg.shards, partial(ticket_shard, cfg.shards)),
    )
    facts_out = stateful("facts", "ticket_facts", by_ticket, partial(TicketFactsLogic, cfg))
    facts = pick("agent_facts", facts_out, AgentFact)
    by_agent = op.key_on("by_agent", facts, partial(agent_shard, cfg.shards))
    windows = partial(AgentWindowLogic, cfg)
    results = ticked("windows", "agent_windows", by_agent, ticks, cfg.shards, windows)
    pick_out(io, "window_rows", "agent_performance_out", results, AGENT_PERFORMANCE)
    pick_out(io, "late_rows", "late_events_out", results, LATE_EVENTS)
    return Emitted(
        op.filter_map("coaching", relevant, partial(_coaching, cfg)),
        letters("agent_dead_letters", ("facts_letters", facts_out), ("window_letters", results)),
    )
