"""Fair delivery: a bounded share of the senders per tenant, one attempt per subscription.

Attack: one tenant's many stalled endpoints taking every sender (tenant B starved).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sinks.webhooks.deliveries import Delivery
from sinks.webhooks.fairness import pick_due

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def delivery(tenant: str, sub: uuid.UUID, due_s: float = 0.0) -> Delivery:
    return Delivery(
        delivery_id=uuid.uuid4(),
        subscription_id=sub,
        tenant_id=tenant,
        alert_id=uuid.uuid4(),
        body=b"{}",
        status="pending",
        attempts=0,
        next_attempt_at=T0 + timedelta(seconds=due_s),
        last_status_code=None,
        last_error="",
        created_at=T0,
    )


def pick(waiting: list[Delivery], room: int = 8, cap: int = 4, **busy: object) -> list[Delivery]:
    return pick_due(
        waiting,
        T0,
        room=room,
        tenant_cap=cap,
        busy_subscriptions=busy.get("subs", set()),  # type: ignore[arg-type]
        busy_tenants=busy.get("tenants", Counter()),  # type: ignore[arg-type]
    )


def test_a_flooding_tenant_leaves_senders_to_the_others() -> None:
    flood = [delivery("a", uuid.uuid4(), -10.0) for _ in range(40)]  # due long ago
    late = delivery("b", uuid.uuid4(), 0.0)
    got = pick([*flood, late])
    assert late in got
    assert Counter(d.tenant_id for d in got) == {"a": 4, "b": 1}


def test_a_tenant_at_its_cap_gets_nothing_more() -> None:
    flood = [delivery("a", uuid.uuid4()) for _ in range(10)]
    b = delivery("b", uuid.uuid4())
    got = pick([*flood, b], tenants=Counter({"a": 4}))
    assert got == [b]


def test_one_attempt_per_subscription() -> None:
    sub = uuid.uuid4()
    same = [delivery("a", sub, -i) for i in range(5)]
    got = pick(same)
    assert len(got) == 1
    assert got[0] is same[-1]  # the soonest due
    assert pick(same, subs={sub}) == []


def test_round_robin_over_tenants_within_room() -> None:
    waiting = [delivery(t, uuid.uuid4()) for t in "aaaabbbbcccc"]
    got = pick(waiting, room=6, cap=10)
    assert Counter(d.tenant_id for d in got) == {"a": 2, "b": 2, "c": 2}


def test_not_due_and_no_room() -> None:
    future = delivery("a", uuid.uuid4(), 5.0)
    assert pick([future]) == []
    assert pick([delivery("a", uuid.uuid4())], room=0) == []
