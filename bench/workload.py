"""Synthetic traffic with exact agent and client counts, for throughput benchmarks.

The simulator models shifts and rosters, so only some agents and clients are live at a
time; a benchmark of key cardinality needs every one of N agents and M clients to see
traffic. Per ticket (client and agent drawn uniformly): created, assigned, first
response, resolved; 40 % get a CSAT survey, 5 % a complaint (a third escalated), 5 % a
health update, 3 % a reopening; and a chat session (queued, started, 2 messages, ended)
per ticket keeps the live-ops flow busy.

Tickets open ~1 s apart and their events spread over the next ~2.6 h of event time.
The stream is sent in event-time order, as real producers send it: sorted as a whole,
so every Kafka partition receives an in-order subsequence whatever the partitioner. A
``late_share`` of the events is held back instead and sent once the newest event time
already sent for its tenant on its partition (keys are ``tenant/entity``, partitioned
like librdkafka's default partitioner, see :func:`partition_of`) is more than the
allowed lateness plus 1 to 5 minutes past it: a producer that sent it a few minutes late.
Everything is drawn from ``seed``, so a run is reproducible.
"""

from __future__ import annotations

import heapq
import json
import random
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_SEVERITIES = ("low", "medium", "high", "critical")
_PRIORITIES = ("low", "normal", "high", "urgent")
# How much later than the allowed lateness a late event is sent: a few minutes.
_LATE_EXTRA_MS = (60_000, 300_000)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default ``consistent_random`` partitioner gives a keyed
    message: CRC-32 of the key modulo the partition count."""
    return zlib.crc32(key) % partitions


@dataclass
class WorkloadStats:
    """Filled in while the workload is consumed."""

    events: int = 0
    # sent more than the allowed lateness behind the newest event time already sent
    # for their tenant on their partition
    late: int = 0

    @property
    def late_share(self) -> float:
        return self.late / self.events if self.events else 0.0


# (event time ms, sequence, partition, tenant, key, value)
_Event = tuple[int, int, int, str, bytes, bytes]


def mixed_traffic(
    n: int,
    agents: int,
    clients: int,
    seed: int = 1,
    tenants: int = 10,
    start: datetime | None = None,
    *,
    late_share: float = 0.01,
    lateness_s: float = 60.0,
    partitions: int = 3,
    stats: WorkloadStats | None = None,
) -> Iterator[tuple[bytes, bytes]]:
    """``n`` (key, value) pairs in event-time order per partition (of ``partitions``),
    except ``late_share`` of them, sent more than ``lateness_s`` late (see module doc)."""
    if not 0 <= late_share < 1:
        raise ValueError("late_share must be in [0, 1)")
    st = stats if stats is not None else WorkloadStats()
    late_rng = random.Random(seed * 1_000_003 + 17)  # independent of the traffic draws
    lateness_ms = round(lateness_s * 1000)
    ontime: list[_Event] = []  # generated, not yet sent, by event time
    held: dict[tuple[int, str], list[tuple[int, int, _Event]]] = {}  # (release ms, seq, event)
    newest: dict[tuple[int, str], int] = {}  # newest event time sent per (partition, tenant)

    def emit(ev: _Event) -> tuple[bytes, bytes]:
        ts, _, part, tenant, key, value = ev
        top = newest.get((part, tenant))
        st.events += 1
        if top is None or ts > top:
            newest[part, tenant] = ts
        elif top - ts > lateness_ms:
            st.late += 1
        return key, value

    def send(ev: _Event) -> Iterator[tuple[bytes, bytes]]:
        yield emit(ev)
        # held events are older than the newest, so sending them moves nothing
        where = (ev[2], ev[3])
        due, top = held.get(where), newest[where]
        while due and due[0][0] <= top:
            yield emit(heapq.heappop(due)[2])

    def release_until(limit_ms: int) -> Iterator[tuple[bytes, bytes]]:
        while ontime and ontime[0][0] <= limit_ms:
            ev = heapq.heappop(ontime)
            if late_share and late_rng.random() < late_share:
                extra = late_rng.randrange(*_LATE_EXTRA_MS)
                heapq.heappush(
                    held.setdefault((ev[2], ev[3]), []), (ev[0] + lateness_ms + extra, ev[1], ev)
                )
            else:
                yield from send(ev)

    traffic = _generate(n, agents, clients, seed, tenants, start)
    for seq, (opened_ms, ts_ms, tenant, key, value) in enumerate(traffic):
        # Tickets open in order and their events are at or after the opening, so every
        # event still to be generated is at or after opened_ms.
        yield from release_until(opened_ms - 1)
        heapq.heappush(ontime, (ts_ms, seq, partition_of(key, partitions), tenant, key, value))
    yield from release_until(2**62)
    # Held events whose partition ran out before they were due: send them last.
    rest = sorted(x for due in held.values() for x in due)
    held.clear()
    for _, _, ev in rest:
        yield emit(ev)


def _generate(
    n: int, agents: int, clients: int, seed: int, tenants: int, start: datetime | None
) -> Iterator[tuple[int, int, str, bytes, bytes]]:
    """(ticket opened ms, event time ms, tenant, key, value), ticket by ticket, so not
    in event-time order; tickets open in order, each event at or after its ticket's."""
    rng = random.Random(seed)
    t0 = start or datetime.now(UTC) - timedelta(days=3)
    emitted = 0
    ticket = 0
    while emitted < n:
        ticket += 1
        tenant = f"t{ticket % tenants}"
        agent = f"agent-{rng.randrange(agents)}"
        client = f"client-{rng.randrange(clients)}"
        tid, sid = f"T{ticket}", f"S{ticket}"
        at = t0 + timedelta(seconds=ticket)
        opened_ms = _ms(at)
        steps: list[tuple[str, str, int, dict[str, Any]]] = [
            (
                "ticket.created",
                tid,
                0,
                {
                    "ticket_id": tid,
                    "client_id": client,
                    "channel": "chat",
                    "queue": "billing",
                    "priority": _PRIORITIES[ticket % 4],
                    "category": "billing",
                    "subject": "Invoice question",
                    "description": "Please check my invoice",
                    "region": "north",
                },
            ),
            (
                "session.queued",
                sid,
                5,
                {"session_id": sid, "channel": "chat", "queue": f"q{ticket % 5}"},
            ),
            (
                "ticket.assigned",
                tid,
                30,
                {"ticket_id": tid, "agent_id": agent, "assigned_by": "auto"},
            ),
            (
                "session.started",
                sid,
                40,
                {
                    "session_id": sid,
                    "channel": "chat",
                    "queue": f"q{ticket % 5}",
                    "agent_id": agent,
                },
            ),
            ("message.sent", sid, 50, {"session_id": sid, "sender": "customer", "kind": "text"}),
            ("ticket.first_response", tid, 90, {"ticket_id": tid, "agent_id": agent}),
            ("message.sent", sid, 95, {"session_id": sid, "sender": "agent", "kind": "text"}),
            (
                "session.ended",
                sid,
                120,
                {
                    "session_id": sid,
                    "channel": "chat",
                    "queue": f"q{ticket % 5}",
                    "agent_id": agent,
                },
            ),
            (
                "ticket.resolved",
                tid,
                600 + rng.randrange(7200),
                {
                    "ticket_id": tid,
                    "agent_id": agent,
                    "category": "billing",
                    "resolution_code": "answered",
                    "resolution_text": "Explained the invoice",
                },
            ),
        ]
        r = rng.random()
        if r < 0.4:
            steps.append(
                (
                    "csat.received",
                    tid,
                    9000,
                    {
                        "survey_id": f"V{ticket}",
                        "ticket_id": tid,
                        "agent_id": agent,
                        "client_id": client,
                        "rating": rng.randint(1, 5),
                    },
                )
            )
        if r < 0.05:
            cid = f"K{ticket}"
            steps.append(
                (
                    "complaint.created",
                    cid,
                    200,
                    {
                        "complaint_id": cid,
                        "client_id": client,
                        "severity": rng.choice(_SEVERITIES),
                        "category": "billing",
                        "description": "Unhappy",
                    },
                )
            )
            if r < 0.017:
                steps.append(
                    (
                        "complaint.escalated",
                        cid,
                        400,
                        {"complaint_id": cid, "client_id": client, "severity": "critical"},
                    )
                )
        if 0.05 <= r < 0.10:
            steps.append(
                (
                    "client.health_updated",
                    client,
                    300,
                    {"client_id": client, "health_score": rng.uniform(10, 100)},
                )
            )
        if 0.10 <= r < 0.13:
            steps.append(("ticket.reopened", tid, 9500, {"ticket_id": tid}))
        for event_type, entity, offset_s, payload in steps:
            if emitted >= n:
                return
            occurred = at + timedelta(seconds=offset_s)
            yield (
                opened_ms,
                _ms(occurred),
                tenant,
                f"{tenant}/{entity}".encode(),
                json.dumps(
                    {
                        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "event_type": event_type,
                        "schema_version": 1,
                        "tenant_id": tenant,
                        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
                        "source": "bench",
                        "payload": payload,
                    },
                    separators=(",", ":"),
                ).encode(),
            )
            emitted += 1


def _ms(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(milliseconds=1)
