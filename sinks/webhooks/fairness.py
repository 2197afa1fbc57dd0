"""Which due deliveries get the free senders: fair between tenants, one per subscription.

A tenant holds at most ``tenant_cap`` senders at once, so endpoints of one tenant that
stall (each up to the attempt deadline) can never starve another tenant; a subscription
has at most one attempt in flight, so one slow endpoint is not hit in parallel and its
deliveries stay in order. Free senders go round-robin over the tenants, each tenant's
deliveries soonest due first. Pure: the dispatcher keeps the counts.
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from collections.abc import Iterable, Set
from datetime import datetime

from sinks.webhooks.deliveries import Delivery


def pick_due(
    waiting: Iterable[Delivery],
    now: datetime,
    *,
    room: int,
    tenant_cap: int,
    busy_subscriptions: Set[uuid.UUID],
    busy_tenants: Counter[str],
) -> list[Delivery]:
    """Up to ``room`` deliveries due at ``now`` to start, given what is in flight."""
    if room <= 0:
        return []
    queues: dict[str, deque[Delivery]] = {}
    for d in sorted(waiting, key=lambda d: (d.next_attempt_at, d.created_at, d.delivery_id)):
        if d.next_attempt_at <= now and d.subscription_id not in busy_subscriptions:
            queues.setdefault(d.tenant_id, deque()).append(d)
    taken: list[Delivery] = []
    subs = set(busy_subscriptions)
    tenants = Counter(busy_tenants)
    while len(taken) < room and queues:
        for tenant in list(queues):  # one per tenant per round
            queue = queues[tenant]
            while queue and queue[0].subscription_id in subs:
                queue.popleft()
            if not queue or tenants[tenant] >= tenant_cap:
                del queues[tenant]
                continue
            d = queue.popleft()
            taken.append(d)
            subs.add(d.subscription_id)
            tenants[tenant] += 1
            if len(taken) >= room:
                break
    return taken
