"""Small pure functions the dataflow wiring calls (named, so no logic hides in lambdas)."""

from __future__ import annotations

from typing import TypeGuard, TypeVar

from flows.core.sharding import shard_of
from schemas.results import DeadLetter
from schemas.transport import Accepted

T = TypeVar("T")


def instance_of(cls: type[T], item: object) -> T | None:
    """``item`` if it is a ``cls`` (for ``filter_map`` with ``partial(instance_of, cls)``:
    splits a stateful step's mixed output by type)."""
    return item if isinstance(item, cls) else None


def is_accepted(item: Accepted | DeadLetter) -> TypeGuard[Accepted]:
    return isinstance(item, Accepted)


def event_id_shard(shards: int, a: Accepted) -> str:
    """A UUID is already uniformly distributed: its integer value is a stable shard."""
    return str(a.event.event_id.int % shards)


def ticket_shard(shards: int, a: Accepted) -> str:
    """Ticket events (and CSAT, which names its ticket) meet in one shard."""
    ticket_id: str = getattr(a.event.payload, "ticket_id", None) or ""
    return shard_of(shards, a.event.tenant_id, ticket_id)


def event_tenant(a: Accepted) -> str:
    """Key of the per-tenant steps (live ops, demand)."""
    return a.event.tenant_id


def ticket_key(shards: int, a: Accepted) -> str:
    """Key of the per-ticket-shard steps (SLA/reopen tracking, KB ticket texts): every
    event of a ticket meets its state."""
    return shard_of(shards, a.event.tenant_id, getattr(a.event.payload, "ticket_id", None) or "")
