"""The whole dataflow, in process: any interleaving of the input partitions, any batch
size and any epoch length give the same output rows (processing-time fields aside).

The fast twin of ``tests/e2e/test_determinism.py``: no broker, no ClickHouse, so it can
try many interleavings. Partitions are kept in order, as Kafka keeps them; what varies
is everything Kafka and Bytewax leave to chance.
"""

from __future__ import annotations

import json
import random
import zlib
from collections import Counter
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bytewax.testing import run_main
from pydantic import BaseModel

from flows.config import FlowConfig
from flows.pipeline import build_flow
from infra.simulator import SimConfig, Simulator
from schemas.alert_rules import parse_rules
from schemas.transport import RawMessage
from tests.unit.helpers import MemoryIO

PARTITIONS = 3
PROCESSING_TIME = {"fired_at", "received_at", "recorded_at", "ingested_at"}
START = datetime(2026, 3, 2, tzinfo=UTC)
# threshold rules that fire and clear in the simulated traffic (alerts and resolutions);
# sla_breaches_1h counts the client-risk flow's breaches, routed into live ops
RULES = parse_rules(
    {
        t: [
            {"metric": "queue_depth", "op": ">", "threshold": 0, "for_s": 5, "severity": "low"},
            {
                "metric": "sla_breaches_1h",
                "op": ">",
                "threshold": 0,
                "for_s": 0,
                "severity": "high",
            },
        ]
        for t in ("acme", "globex", "initech")
    }
)


def _partitions(n: int) -> list[list[RawMessage]]:
    """``n`` simulated events (plus late ones and a poison pill), per partition in order."""
    sim = Simulator(SimConfig(seed=3, start=START, tickets_per_hour=40.0))
    events = []
    for i, e in enumerate(sim.events()):
        if i >= n:
            break
        events.append(e)
    rng = random.Random(5)
    early = [e for e in events[: n // 2] if e["event_type"].startswith(("ticket.", "csat."))]
    late = [dict(e, event_id=f"{e['event_id'][:-4]}beef") for e in rng.sample(early, 15)]
    raws = [json.dumps(e).encode() for e in [*events, *late]] + [b'{"not": json']
    parts: list[list[RawMessage]] = [[] for _ in range(PARTITIONS)]
    for raw in raws:
        try:
            doc = json.loads(raw)
            key = f"{doc['tenant_id']}/{doc['payload'].get('ticket_id', doc['event_id'])}"
        except ValueError:
            key = "poison"
        p = zlib.crc32(key.encode()) % PARTITIONS
        parts[p].append(RawMessage("ev", p, len(parts[p]), key.encode(), raw))
    return parts


def _interleave(parts: list[list[RawMessage]], seed: int) -> list[RawMessage]:
    rng = random.Random(seed)
    queues = [list(p) for p in parts]
    out: list[RawMessage] = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        take = rng.randint(1, 50)
        out.extend(q[:take])
        del q[:take]
    return out


def _plain(item: Any) -> Any:
    if isinstance(item, BaseModel):
        d = item.model_dump(mode="json")
    elif is_dataclass(item) and not isinstance(item, type):
        d = json.loads(json.dumps(asdict(item), default=str))
    else:
        return repr(item)
    return json.dumps({k: v for k, v in d.items() if k not in PROCESSING_TIME}, sort_keys=True)


def _run(messages: list[RawMessage], batch_size: int, epoch_ms: int) -> dict[str, Counter[str]]:
    cfg = FlowConfig(
        input_partitions=PARTITIONS,
        idle_advance=False,
        provisional=False,
        shards=4,
        alert_rules=RULES,
    )
    io = MemoryIO(messages, batch_size)
    run_main(build_flow(cfg, io), epoch_interval=timedelta(milliseconds=epoch_ms))
    return {name: Counter(_plain(x) for x in rows) for name, rows in io.out.items()}


@pytest.fixture(scope="module")
def parts() -> list[list[RawMessage]]:
    return _partitions(4000)


@pytest.fixture(scope="module")
def expected(parts: list[list[RawMessage]]) -> dict[str, Counter[str]]:
    return _run(_interleave(parts, 0), 5000, 10_000)


def test_the_reference_run_produces_every_kind_of_output(expected: dict[str, Counter[str]]) -> None:
    # erasures: an erasure's intermediate rows depend on arrival order by design (which of
    # the client's events beat it to a shard); what is left after it (nothing of the
    # client) is tested in tests/integration/test_erasure.py
    empty = {k for k, v in expected.items() if not v} - {"demand_backtest", "erasures"}
    assert not empty, {k: sum(v.values()) for k, v in expected.items()}
    assert sum(expected["late_events"].values()) > 0
    assert sum(expected["dead_letters"].values()) >= 1
    sla_rule_alerts = [
        r for r in expected["alerts"] if '"metric_name": "sla_breaches_1h"' in r
    ]  # the breaches reach the live-ops rules
    assert sla_rule_alerts


@pytest.mark.parametrize(
    ("seed", "batch_size", "epoch_ms"),
    [(1, 1, 0), (2, 7, 1), (3, 100, 0), (4, 5000, 0), (5, 13, 5)],
)
def test_same_rows_for_any_interleaving_batch_size_and_epochs(
    parts: list[list[RawMessage]],
    expected: dict[str, Counter[str]],
    seed: int,
    batch_size: int,
    epoch_ms: int,
) -> None:
    got = _run(_interleave(parts, seed), batch_size, epoch_ms)
    for name, rows in expected.items():
        if name == "events":  # same events; their offsets differ by interleaving only
            assert sum(got[name].values()) == sum(rows.values())
            continue
        diff = (got[name] - rows) + (rows - got[name])
        assert not diff, (name, list(diff)[:3])
