"""The tenant clusterer applies tickets and articles in event-time order, whatever order
Kafka partitions deliver them in (flows/stateful_kb.py)."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime

from flows.config import FlowConfig
from flows.stateful_kb import KbClustersLogic, KbItem, KbOutput
from schemas.kb import KbSuggestion
from schemas.results import Alert
from tests.unit.test_kb import ARTICLE_RESET, RESET, ROUTER, VAT, article, rt

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def cfg() -> FlowConfig:
    return FlowConfig(input_partitions=2, idle_advance=False, now=lambda: NOW)


def items() -> list[KbItem]:
    """Three problems spread over two partitions; the reset article arrives (by event
    time) after three reset tickets, so that suggestion opens and is then covered."""
    tickets = [
        *(rt(f"R{i}", t, i * 10) for i, t in enumerate(RESET[:4])),
        *(rt(f"V{i}", t, 5 + i * 10) for i, t in enumerate(VAT)),
        *(rt(f"W{i}", t, 7 + i * 10) for i, t in enumerate(ROUTER)),
    ]
    out = [KbItem(t.resolved_at_ms, f"t/{t.ticket_id}", i % 2, t) for i, t in enumerate(tickets)]
    a = article("kb-1", *ARTICLE_RESET, minutes=25)
    out.append(KbItem(int(a.occurred_at.timestamp() * 1000), f"a/{a.event_id}", 1, a))
    return out


def run(batches: list[list[KbItem]], restart_after: int | None = None) -> list[KbOutput]:
    logic = KbClustersLogic(cfg(), None)
    out: list[KbOutput] = []
    for n, batch in enumerate(batches):
        out.extend(logic.on_batch(batch)[0])
        if n == restart_after:  # a crash: state round-trips through its snapshot
            logic = KbClustersLogic(cfg(), logic.snapshot())
    out.extend(logic.on_eof()[0])
    return out


def shuffled_batches(seed: int) -> list[list[KbItem]]:
    """Each partition in event-time order (late data aside, as Kafka delivers it),
    interleaved at random, cut into random batches."""
    rng = random.Random(seed)
    ordered = sorted(items(), key=KbItem.order)
    parts = [[i for i in ordered if i.partition == p] for p in (0, 1)]
    merged: list[KbItem] = []
    while any(parts):
        merged.append(rng.choice([p for p in parts if p]).pop(0))
    batches, i = [], 0
    while i < len(merged):
        n = rng.randint(1, 4)
        batch = merged[i : i + n]
        rng.shuffle(batch)  # exchanges reorder within a batch, too
        batches.append(batch)
        i += n
    return batches


def test_outputs_are_the_same_for_any_interleaving_and_restart() -> None:
    expected = run([sorted(items(), key=KbItem.order)])
    opened = [x for x in expected if isinstance(x, Alert)]
    assert len(opened) == 3  # reset (4 tickets), VAT (4) and router (3) each open once
    final = {s.suggestion_id: s for s in expected if isinstance(s, KbSuggestion)}
    statuses = sorted((s.size, s.status) for s in final.values())
    assert (4, "covered") in statuses  # the reset article came after the cluster opened
    for seed in range(12):
        got = run(shuffled_batches(seed), restart_after=seed % 3)
        assert got == expected, seed


def test_items_wait_for_the_watermark_of_every_partition() -> None:
    logic = KbClustersLogic(cfg(), None)
    only_p0 = [i for i in sorted(items(), key=KbItem.order) if i.partition == 0]
    assert list(logic.on_batch(only_p0)[0]) == []  # partition 1 not heard from yet
    rest = [i for i in items() if i.partition == 1]
    released = list(logic.on_batch(rest)[0])
    assert released  # now both partitions are past the early items
    assert pickle.loads(logic.snapshot()).pending  # the newest ones still wait
    assert list(logic.on_eof()[0])
