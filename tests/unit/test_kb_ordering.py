"""The tenant clusterer applies tickets and articles in event-time order, whatever order
Kafka partitions deliver them in (flows/kb/stateful.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from flows.config import FlowConfig
from flows.core.clock import Tick
from flows.core.state import load_state
from flows.kb.stateful import KbClustersLogic, KbItem, KbOutput
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


def run(
    batches: list[list[KbItem | Tick]],
    restart_after: int | None = None,
    epochs: set[int] | None = None,
) -> list[KbOutput]:
    """Feed batches; after the batches in ``epochs`` an epoch closes (Bytewax calls
    ``snapshot``) and a timer fires."""
    logic = KbClustersLogic(cfg(), None)
    out: list[KbOutput] = []
    for n, batch in enumerate(batches):
        out.extend(logic.on_batch(batch)[0])
        if epochs is not None and n in epochs:
            snap = logic.snapshot()
            if n == restart_after:  # a crash: state round-trips through its snapshot
                logic = KbClustersLogic(cfg(), snap)
            out.extend(logic.on_notify()[0])
    out.extend(logic.on_eof()[0])
    return out


def shuffled_batches(seed: int) -> list[list[KbItem | Tick]]:
    """Each partition in event-time order (late data aside, as Kafka delivers it),
    interleaved at random, cut into random batches, with the input clock's ticks
    (min over partitions of the newest time seen) where the clock would emit them."""
    rng = random.Random(seed)
    ordered = sorted(items(), key=KbItem.order)
    parts = [[i for i in ordered if i.partition == p] for p in (0, 1)]
    merged: list[KbItem] = []
    while any(parts):
        merged.append(rng.choice([p for p in parts if p]).pop(0))
    batches: list[list[KbItem | Tick]] = []
    newest = {0: -(2**62), 1: -(2**62)}
    i = 0
    while i < len(merged):
        n = rng.randint(1, 4)
        chunk = merged[i : i + n]
        for item in chunk:
            newest[item.partition] = max(newest[item.partition], item.at_ms)
        batch: list[KbItem | Tick] = [*chunk, Tick("t1", min(newest.values()))]
        rng.shuffle(batch)  # exchanges reorder within a batch, and ticks overtake data
        batches.append(batch)
        i += n
    return batches


def test_outputs_are_the_same_for_any_interleaving_epochs_and_restart() -> None:
    expected = run([list(sorted(items(), key=KbItem.order))])
    opened = [x for x in expected if isinstance(x, Alert)]
    assert len(opened) == 3  # reset (4 tickets), VAT (4) and router (3) each open once
    final = {s.suggestion_id: s for s in expected if isinstance(s, KbSuggestion)}
    statuses = sorted((s.size, s.status) for s in final.values())
    assert (4, "covered") in statuses  # the reset article came after the cluster opened
    released_early = 0
    for seed in range(12):
        batches = shuffled_batches(seed)
        rng = random.Random(seed + 100)
        epochs = {n for n in range(len(batches)) if rng.random() < 0.4}
        got = run(batches, restart_after=min(epochs, default=None), epochs=epochs)
        assert got == expected, seed
        released_early += bool(epochs)
    assert released_early


def test_a_tick_applies_only_once_its_epoch_has_closed() -> None:
    logic = KbClustersLogic(cfg(), None)
    ordered = sorted(items(), key=KbItem.order)
    tick = Tick("t1", ordered[9].at_ms)
    assert list(logic.on_batch([*ordered, tick])[0]) == []  # the epoch is still open
    assert list(logic.on_notify()[0]) == []
    logic.snapshot()  # the epoch closes: every item it held has been seen
    released = list(logic.on_notify()[0])
    assert released
    _, state_time = load_state("kb", logic.snapshot())
    assert state_time.applied == {"t1": tick.watermark_ms}
    held = state_time.held["t1"]
    assert len(held) == len(ordered) - 9  # items at or after the tick still wait
    assert list(logic.on_eof()[0])
