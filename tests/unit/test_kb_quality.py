"""KB suggestion quality on the hand-labelled sets: floors on precision and recall.

``kb_eval.jsonl`` and ``kb_eval_near.jsonl`` (near-topic distractors: the same product
area, another problem; English, Polish, German) tuned the thresholds and the confidence;
``kb_eval_holdout.jsonl`` and ``kb_eval_near_holdout.jsonl`` hold other problems and were
not used for tuning. The measured values are printed (``pytest -s``); the benchmark
(``python -m bench.kb_quality``) reports 20 shuffled orders.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from flows.kb.clusters import KbConfig
from flows.kb.quality import (
    EvalSet,
    KbQuality,
    build_events,
    evaluate,
    load_eval_set,
    run_events,
)

DATA = Path(__file__).resolve().parent.parent / "data"
TUNED = ("kb_eval.jsonl", "kb_eval_near.jsonl")
HELD_OUT = ("kb_eval_holdout.jsonl", "kb_eval_near_holdout.jsonl")
SETS = TUNED + HELD_OUT
NEAR = ("kb_eval_near.jsonl", "kb_eval_near_holdout.jsonl")
SEEDS = (1, 2, 3, 4, 5)  # shuffled orders the floors hold on
PRECISION_FLOOR = 0.9  # every order: majority label, more than half the members
STRICT_FLOOR = 0.8  # mean over the orders: no member of another problem at all
RECALL_FLOOR = 0.7  # mean over the orders


@pytest.fixture(scope="module", params=SETS)
def eval_set(request: pytest.FixtureRequest) -> tuple[str, EvalSet]:
    return request.param, load_eval_set(DATA / request.param)


def _run(name: str, es: EvalSet, cfg: KbConfig, seed: int | None = None) -> KbQuality:
    if seed is None:
        q = evaluate(es.tickets, cfg, es.articles)
    else:
        q = evaluate(es.tickets, cfg, es.articles, order_seed=seed)
    print(f"\n{name} {seed=} P={q.precision:.3f} strict={q.strict_precision:.3f} R={q.recall:.3f}")
    return q


def test_precision_and_recall_floors(eval_set: tuple[str, EvalSet]) -> None:
    runs = [_run(*eval_set, KbConfig(), seed) for seed in SEEDS]
    assert min(q.precision for q in runs) >= PRECISION_FLOOR
    assert sum(q.strict_precision for q in runs) / len(runs) >= STRICT_FLOOR
    assert sum(q.recall for q in runs) / len(runs) >= RECALL_FLOOR


def test_confident_suggestions_are_right(eval_set: tuple[str, EvalSet]) -> None:
    """Calibration: suggestions with confidence >= 0.8 are pure true positives >= 80 %."""
    runs = [_run(*eval_set, KbConfig(), seed) for seed in SEEDS]
    confident = [ok for q in runs for conf, ok in q.judged if conf >= 0.8]
    assert confident
    assert sum(confident) / len(confident) >= 0.8


@pytest.mark.parametrize(
    "pair",
    [("reset_link_expired", "twofa_code_expired"), ("invoice_wrong_vat_rate", "charged_twice")],
)
def test_a_near_topic_ticket_never_joins_its_sibling_problem(pair: tuple[str, str]) -> None:
    """The attack of the issue: a cluster of password-reset tickets (link expired) must
    not absorb a ticket of the neighbouring problem (two-factor code expired), nor a
    wrong-VAT invoice cluster a double charge, in any of 20 shuffled orders. (The
    German and Polish pairs of the near sets still mix in some orders: see the
    benchmark's ``mixed`` column.)"""
    es = load_eval_set(DATA / "kb_eval_near.jsonl")
    label_of = {t.ticket_id: t.label for t in es.tickets}
    for seed in range(20):
        changes, _ = run_events(build_events(es.tickets, es.articles, order_seed=seed), KbConfig())
        for ch in changes:
            labels = {label_of[t] for t in ch.suggestion.ticket_ids}
            assert not set(pair) <= labels, (seed, ch.suggestion.title)


def test_articles_suppress_and_cover(eval_set: tuple[str, EvalSet]) -> None:
    q = _run(*eval_set, KbConfig())
    assert q.covered_before_expected >= 1
    assert q.covered_before_opened == 0
    assert q.late_flipped == q.late_expected
    assert q.wrong_covers == 0


def test_the_measure_catches_bad_thresholds(eval_set: tuple[str, EvalSet]) -> None:
    """Too loose merges problems (precision falls); too strict splits them (recall falls)."""
    loose = _run(*eval_set, KbConfig(join_threshold=0.06, member_threshold=0.03))
    strict = _run(*eval_set, KbConfig(join_threshold=0.6))
    assert loose.strict_precision < STRICT_FLOOR
    assert strict.recall < RECALL_FLOOR


def test_evaluation_is_deterministic(eval_set: tuple[str, EvalSet]) -> None:
    _, es = eval_set
    assert evaluate(es.tickets, KbConfig(), es.articles) == evaluate(
        es.tickets, KbConfig(), es.articles
    )


def test_sets_have_the_promised_shape() -> None:
    labels: dict[str, set[str]] = {}
    for name in SETS:
        es = load_eval_set(DATA / name)
        sizes = Counter(t.label for t in es.tickets)
        recurring = [n for n in sizes.values() if n >= 3]
        assert len(recurring) >= (10 if name in NEAR else 15)
        assert all(4 <= n <= 8 for n in recurring)
        assert sum(1 for n in sizes.values() if n == 1) >= (15 if name in NEAR else 30)
        assert {a.when for a in es.articles} == {"before", "after"}
        assert any(a.covers is None for a in es.articles)
        assert all(a.covers is None or sizes[a.covers] >= 3 for a in es.articles)
        ids = [t.ticket_id for t in es.tickets] + [a.article_id for a in es.articles]
        assert len(ids) == len(set(ids))
        labels[name] = {label for label, n in sizes.items() if n >= 3}
    tuned = labels[TUNED[0]] | labels[TUNED[1]]
    assert not tuned & (labels[HELD_OUT[0]] | labels[HELD_OUT[1]])  # held out: other problems


def test_near_sets_pair_problems_within_a_product_area_in_three_languages() -> None:
    for name in NEAR:
        es = load_eval_set(DATA / name)
        sizes = Counter(t.label for t in es.tickets)
        areas: dict[str, set[str]] = {}
        for t in es.tickets:
            if sizes[t.label] >= 3:
                areas.setdefault(t.category, set()).add(t.label)
        assert len(areas) >= 5
        assert all(len(v) >= 2 for v in areas.values()), areas
        text = " ".join(t.description for t in es.tickets)
        assert any(ch in text for ch in "ąęłśżź")
        assert any(ch in text for ch in "äöüß")
