"""Where an item came from (for the dead letter of an item a flow's logic failed on)
and where it sorts among held items.

An accepted event knows its partition and offset; derived items (facts, signals) know
only their causing event, so their letter is keyed by a stable number from its id.
"""

from __future__ import annotations

import json
from typing import TypeVar

from flows.core.sharding import stable_offset
from flows.core.stateful import EventTimeLogic, Origin
from flows.core.timeutil import to_ms
from schemas.transport import Accepted

S = TypeVar("S")
Y = TypeVar("Y")


def event_origin(a: Accepted) -> Origin:
    return Origin(a.partition, a.offset, None, a.event.model_dump_json().encode())


def derived_origin(partition: int, kind: str, ref: str, tenant_id: str, **extra: str) -> Origin:
    """A derived item: what it is, what caused it (an event id or a ticket id) and its
    tenant, as the raw bytes of its dead letter."""
    body = {"derived": kind, "ref": ref, "tenant_id": tenant_id, **extra}
    raw = json.dumps(body, sort_keys=True).encode()
    return Origin(partition, stable_offset(tenant_id, kind, ref), None, raw)


def event_order(a: Accepted) -> tuple[int, str]:
    """(event time, id); a late event sorts at the bound it missed, which is never
    behind an applied watermark and depends on its partition alone."""
    at = to_ms(a.event.occurred_at) if a.late_bound_ms is None else a.late_bound_ms
    return at, str(a.event.event_id)


class EventLogic(EventTimeLogic[S, Accepted, Y]):
    """A step whose inputs are accepted events: tenant, order and origin come from the
    event, so the steps only say what they do with it."""

    def tenant_of(self, item: Accepted) -> str:
        return item.event.tenant_id

    def order_of(self, item: Accepted) -> tuple[int, str]:
        return event_order(item)

    def origin_of(self, item: Accepted) -> Origin:
        return event_origin(item)
