"""KB suggestion quality on the hand-labelled sets: floors on precision and recall.

``kb_eval.jsonl`` tuned the thresholds; ``kb_eval_holdout.jsonl`` holds other problems
and was not used for tuning. The measured values are printed (``pytest -s``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from flows.kb.clusters import KbConfig
from flows.kb.quality import EvalSet, KbQuality, evaluate, load_eval_set

DATA = Path(__file__).resolve().parent.parent / "data"
SETS = ("kb_eval.jsonl", "kb_eval_holdout.jsonl")
PRECISION_FLOOR = 0.8
RECALL_FLOOR = 0.8


@pytest.fixture(scope="module", params=SETS)
def eval_set(request: pytest.FixtureRequest) -> tuple[str, EvalSet]:
    return request.param, load_eval_set(DATA / request.param)


def _run(name: str, es: EvalSet, cfg: KbConfig) -> KbQuality:
    q = evaluate(es.tickets, cfg, es.articles)
    print(f"\n{name} {cfg.join_threshold=} {cfg.cover_threshold=}: {q}")
    return q


def test_precision_and_recall_floors(eval_set: tuple[str, EvalSet]) -> None:
    q = _run(*eval_set, KbConfig())
    assert q.precision >= PRECISION_FLOOR
    assert q.recall >= RECALL_FLOOR
    assert q.suggestions >= q.true_positives >= RECALL_FLOOR * q.recurring


def test_articles_suppress_and_cover(eval_set: tuple[str, EvalSet]) -> None:
    q = _run(*eval_set, KbConfig())
    assert q.covered_before_expected >= 1
    assert q.covered_before_opened == 0
    assert q.late_expected >= 1
    assert q.late_flipped == q.late_expected
    assert q.wrong_covers == 0


def test_the_measure_catches_bad_thresholds(eval_set: tuple[str, EvalSet]) -> None:
    """Too loose merges problems (precision falls); too strict splits them (recall falls)."""
    loose = _run(*eval_set, KbConfig(join_threshold=0.06))
    strict = _run(*eval_set, KbConfig(join_threshold=0.6))
    assert loose.precision < PRECISION_FLOOR
    assert strict.recall < RECALL_FLOOR


def test_evaluation_is_deterministic(eval_set: tuple[str, EvalSet]) -> None:
    _, es = eval_set
    assert evaluate(es.tickets, KbConfig(), es.articles) == evaluate(
        es.tickets, KbConfig(), es.articles
    )


def test_sets_have_the_promised_shape() -> None:
    labels: list[set[str]] = []
    for name in SETS:
        es = load_eval_set(DATA / name)
        sizes = Counter(t.label for t in es.tickets)
        recurring = [n for n in sizes.values() if n >= 3]
        assert len(recurring) >= 15
        assert all(4 <= n <= 8 for n in recurring)
        assert sum(1 for n in sizes.values() if n == 1) >= 30
        assert {a.when for a in es.articles} == {"before", "after"}
        assert any(a.covers is None for a in es.articles)
        assert all(a.covers is None or sizes[a.covers] >= 3 for a in es.articles)
        ids = [t.ticket_id for t in es.tickets] + [a.article_id for a in es.articles]
        assert len(ids) == len(set(ids))
        labels.append({label for label, n in sizes.items() if n >= 3})
    assert not labels[0] & labels[1]  # the held-out set has other problems
