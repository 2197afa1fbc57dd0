"""Keys and splits of the agent-performance wiring (named, so no logic hides in lambdas)."""

from __future__ import annotations

from typing import TypeGuard

from flows.agents.facts import AGENT_EVENT_TYPES, AgentFact
from flows.core.sharding import shard_of
from schemas.results import AgentWindow, LateEvent
from schemas.transport import Accepted


def is_window_row(item: AgentWindow | LateEvent) -> TypeGuard[AgentWindow]:
    return isinstance(item, AgentWindow)


def concerns_agents(a: Accepted) -> bool:
    return a.event.event_type in AGENT_EVENT_TYPES


def agent_shard(shards: int, f: AgentFact) -> str:
    return shard_of(shards, f.tenant_id, f.agent_id)
