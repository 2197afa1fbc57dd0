"""Small pure functions the dataflow wiring calls (named, so no logic hides in lambdas)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flows.core.sharding import shard_of
from schemas.events import ClientErasureRequested
from schemas.results import DeadLetter
from schemas.transport import Accepted

T = TypeVar("T")


def instance_of(cls: type[T], item: object) -> T | None:
    """``item`` if it is a ``cls`` (for ``filter_map`` with ``partial(instance_of, cls)``:
    splits a stateful step's mixed output by type)."""
    return item if isinstance(item, cls) else None


def ticket_id_of(a: Accepted) -> str:
    """The ticket an event names, or "" (read from the payload's field dict: a missing
    attribute on a pydantic model goes through its slow ``__getattr__``, which showed up
    in the ingest profile)."""
    ticket_id: str | None = a.event.payload.__dict__.get("ticket_id")
    return ticket_id or ""


def ticket_shard(shards: int, a: Accepted) -> str:
    """Ticket events (and CSAT, which names its ticket) meet in one shard."""
    return shard_of(shards, a.event.tenant_id, ticket_id_of(a))


def event_tenant(a: Accepted) -> str:
    """Key of the per-tenant steps (live ops, demand)."""
    return a.event.tenant_id


def ticket_key(shards: int, a: Accepted) -> str:
    """Key of the per-ticket-shard steps (SLA/reopen tracking, KB ticket texts): every
    event of a ticket meets its state."""
    return shard_of(shards, a.event.tenant_id, ticket_id_of(a))


# ---- whole batches (``flat_map_batch``): one Python call per batch, not per item -----


def accepted_only(items: list[Accepted | DeadLetter]) -> list[Accepted]:
    """The accepted events of a decoded batch, in order."""
    return [a for a in items if isinstance(a, Accepted)]


def instances_of(cls: type[T], items: list[Any]) -> list[T]:
    """The ``cls`` items of a batch, in order (splits a step's mixed output by type, one
    Python call per batch)."""
    return [item for item in items if isinstance(item, cls)]


def rejected_only(items: list[Accepted | DeadLetter]) -> list[DeadLetter]:
    """The dead letters of a decoded batch, in order."""
    return [d for d in items if isinstance(d, DeadLetter)]


def by_ticket_key(shards: int, items: list[Accepted]) -> list[tuple[str, Accepted]]:
    """:func:`ticket_key` of a whole batch, as a keyed stream's items."""
    return [(ticket_key(shards, a), a) for a in items]


def is_erasure(a: Accepted) -> bool:
    """Whether ``a`` is a data subject's erasure (``client.erasure_requested``)."""
    return isinstance(a.event.payload, ClientErasureRequested)


def erasures_to_every_shard(
    shards: int, key: Callable[[Accepted], str], items: list[Accepted]
) -> list[tuple[str, Accepted]]:
    """A sharded step's keyed batch: each event to its ``key``, but an erasure to every
    shard key ``"0"`` .. ``str(shards - 1)``, since any shard may hold something of the
    client (its tickets, its complaints), and each must forget it."""
    out: list[tuple[str, Accepted]] = []
    for a in items:
        if is_erasure(a):
            out.extend((str(s), a) for s in range(shards))
        else:
            out.append((key(a), a))
    return out


def values(items: list[tuple[str, T]]) -> list[T]:
    """A keyed batch without its keys (a stateful step's output)."""
    return [v for _, v in items]
