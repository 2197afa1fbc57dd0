"""Keys of the agent-performance wiring (named, so no logic hides in lambdas)."""

from __future__ import annotations

from flows.agents.facts import AgentFact
from flows.core.sharding import shard_of


def agent_shard(shards: int, f: AgentFact) -> str:
    return shard_of(shards, f.tenant_id, f.agent_id)
