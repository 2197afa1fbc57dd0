"""Agent performance dataflow: ticket events -> agent facts -> windowed metrics.

Also raises coaching alerts for low CSAT. The logic lives in pure modules; this only
wires keys, ticks, state and sinks.
"""

from __future__ import annotations

from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.agents.coaching import coaching_alert
from flows.agents.facts import AgentFact
from flows.agents.keys import agent_shard, concerns_agents
from flows.agents.stateful import AgentWindowLogic, TicketFactsLogic
from flows.config import FlowConfig
from flows.core.clock import Tick
from flows.core.clock_flow import with_ticks
from flows.core.io import FlowIO
from flows.core.keys import instance_of, ticket_shard
from schemas.results import AgentWindow, Alert, DeadLetter, LateEvent
from schemas.transport import Accepted


def _coaching(cfg: FlowConfig, a: Accepted) -> Alert | None:
    return coaching_alert(a.event, cfg.now())


def add_agent_performance(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Stream[DeadLetter]:
    relevant = op.filter("agent_events", events, concerns_agents)
    by_ticket = op.key_on("by_ticket", relevant, partial(ticket_shard, cfg.shards))
    facts_out = op.key_rm(
        "facts", op.stateful_batch("ticket_facts", by_ticket, partial(TicketFactsLogic, cfg))
    )
    facts = op.filter_map("agent_facts", facts_out, partial(instance_of, AgentFact))
    by_agent = op.key_on("by_agent", facts, partial(agent_shard, cfg.shards))
    results = op.key_rm(
        "windows",
        op.stateful_batch(
            "agent_windows",
            with_ticks("agent_windows", by_agent, ticks, cfg.shards),
            partial(AgentWindowLogic, cfg),
        ),
    )
    rows = op.filter_map("window_rows", results, partial(instance_of, AgentWindow))
    op.output("agent_performance_out", rows, io.sink("agent_performance"))
    late = op.filter_map("late_rows", results, partial(instance_of, LateEvent))
    op.output("late_events_out", late, io.sink("late_events"))

    alerts = op.filter_map("coaching", relevant, partial(_coaching, cfg))
    op.output("alerts_out", alerts, io.sink("alerts"))
    op.output("alerts_topic_out", alerts, io.sink("alerts_topic"))
    return op.merge(
        "agent_dead_letters",
        op.filter_map("facts_letters", facts_out, partial(instance_of, DeadLetter)),
        op.filter_map("window_letters", results, partial(instance_of, DeadLetter)),
    )
