"""Measured quality of the KB suggestions on a hand-labelled evaluation set.

A set is a JSON-lines file (``tests/data/kb_eval.jsonl``, ``kb_eval_holdout.jsonl``):
``{"kind": "ticket", ticket_id, label, category, subject, description, resolution_code,
resolution_text}`` lines, where tickets of one recurring problem share a ``label``
(paraphrases, typos, different lengths and fixes) and the rest are singletons or pairs;
and ``{"kind": "article", article_id, covers, when, category, title, body}`` lines: an
article written for the problem ``covers`` (null: for none), created ``before`` the
first ticket or ``after`` the last one.

``evaluate`` replays the set as real events (``ticket.created`` then ``ticket.resolved``
90 minutes later, tickets 10 minutes apart in a seeded shuffle; ``before`` articles
first, ``after`` articles last) through ``TicketTexts`` and ``KbClusters`` and scores the
suggestions that opened, each judged by its final member list:

* its label is the most common true label among its members (ties: earliest member);
* it is a true positive if that label is recurring (>= ``min_size`` tickets in the
  set), holds more than half of the members, and no earlier-opened suggestion was
  already credited with that label (else it counts as ``duplicates`` or ``impure``);
* precision = true positives / suggestions opened (0 when none opened);
* a suggestion is ``mixed`` when its members hold more than one true label (a true
  positive may still be mixed: its majority holds); ``strict_precision`` = pure true
  positives / suggestions opened: a suggestion must never mix two problems;
* ``judged``: (confidence, correct) of each scored suggestion's final row, correct
  meaning a pure true positive: the input of a reliability table;
* recall = recurring labels credited / recurring labels with no ``before`` article
  (those are expected never to open).

Articles: ``covered_before_opened`` counts ``before``-covered labels that opened anyway
(should be 0); ``late_flipped`` / ``late_expected`` counts ``after`` articles whose label
had an open suggestion and that turned it ``covered``; ``wrong_covers`` counts suggestions
covered by an article written for another label (or for none).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from uuid import UUID

from flows.kb.clusters import KbChange, KbClusters, KbConfig, TicketTexts
from schemas.events import (
    Event,
    KbArticleCreated,
    TicketCreated,
    TicketResolved,
    event_model,
)
from schemas.ids import stable_id
from schemas.kb import KbSuggestion

T0 = datetime(2025, 1, 6, tzinfo=UTC)
TICKET_GAP = timedelta(minutes=10)
RESOLVE_AFTER = timedelta(minutes=90)
DEFAULT_ORDER_SEED = 20250106


@dataclass(frozen=True, slots=True)
class LabelledTicket:
    ticket_id: str
    label: str  # the true problem; tickets sharing it are paraphrases of one problem
    category: str
    subject: str
    description: str
    resolution_code: str
    resolution_text: str


@dataclass(frozen=True, slots=True)
class LabelledArticle:
    article_id: str
    covers: str | None  # the label it is written for
    when: Literal["before", "after"]
    category: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class EvalSet:
    tickets: tuple[LabelledTicket, ...]
    articles: tuple[LabelledArticle, ...]


@dataclass(frozen=True, slots=True)
class KbQuality:
    """Scores of one evaluation run (see the module docstring for the definitions)."""

    precision: float
    recall: float
    suggestions: int  # opened
    true_positives: int
    duplicates: int
    impure: int
    mixed: int  # suggestions whose members hold more than one label
    strict_precision: float  # pure true positives / suggestions opened
    recurring: int  # recurring labels expected to open
    found: int  # of those, credited
    covered_before_expected: int
    covered_before_opened: int
    late_expected: int
    late_flipped: int
    wrong_covers: int
    clusters: int  # live clusters at the end, singletons included
    judged: tuple[tuple[float, bool], ...] = ()  # (confidence, pure true positive) each


def load_eval_set(path: str | Path) -> EvalSet:
    """Read a JSON-lines evaluation set."""
    tickets: list[LabelledTicket] = []
    articles: list[LabelledArticle] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        doc = json.loads(line)
        kind = doc.pop("kind")
        if kind == "ticket":
            tickets.append(LabelledTicket(**doc))
        elif kind == "article":
            if doc["when"] not in ("before", "after"):
                raise ValueError(f"{path}:{n}: 'when' must be 'before' or 'after'")
            articles.append(LabelledArticle(**doc))
        else:
            raise ValueError(f"{path}:{n}: unknown kind {kind!r}")
    return EvalSet(tuple(tickets), tuple(articles))


def _event(
    event_type: str,
    tenant: str,
    at: datetime,
    key: str,
    payload: TicketCreated | TicketResolved | KbArticleCreated,
) -> Event:
    return event_model(event_type)(
        event_id=stable_id("kb_eval", event_type, tenant, key),
        event_type=event_type,
        payload=payload,
        schema_version=1,
        tenant_id=tenant,
        occurred_at=at,
        source="kb-eval",
    )


def article_event(a: LabelledArticle, tenant: str, at: datetime) -> Event:
    """The ``kb.article_created`` event of a labelled article."""
    payload = KbArticleCreated(
        article_id=a.article_id, title=a.title, body=a.body, category=a.category
    )
    return _event("kb.article_created", tenant, at, a.article_id, payload)


def build_events(
    tickets: Sequence[LabelledTicket],
    articles: Sequence[LabelledArticle] = (),
    *,
    order_seed: int = DEFAULT_ORDER_SEED,
    tenant_id: str = "eval",
    warmup: Sequence[LabelledTicket] = (),
) -> list[Event]:
    """The evaluation stream, in event-time order (deterministic for a seed).

    ``warmup`` tickets come first, in their order, then ``tickets`` shuffled.
    """
    order = list(tickets)
    random.Random(order_seed).shuffle(order)
    order = list(warmup) + order
    timed: list[tuple[datetime, int, Event]] = []
    for i, a in enumerate(x for x in articles if x.when == "before"):
        timed.append((T0 + timedelta(seconds=i), 0, article_event(a, tenant_id, T0)))
    start = T0 + timedelta(hours=1)
    for i, t in enumerate(order):
        created_at = start + i * TICKET_GAP
        created = TicketCreated(
            ticket_id=t.ticket_id,
            client_id=f"client-{i % 17}",
            channel="email",
            queue="support",
            priority="normal",
            category=t.category,
            subject=t.subject,
            description=t.description,
            region="eu",
        )
        resolved = TicketResolved(
            ticket_id=t.ticket_id,
            agent_id=f"agent-{i % 5}",
            category=t.category,
            resolution_code=t.resolution_code,
            resolution_text=t.resolution_text,
        )
        timed.append(
            (created_at, 1, _event("ticket.created", tenant_id, created_at, t.ticket_id, created))
        )
        done_at = created_at + RESOLVE_AFTER
        timed.append(
            (done_at, 1, _event("ticket.resolved", tenant_id, done_at, t.ticket_id, resolved))
        )
    end = start + len(order) * TICKET_GAP + RESOLVE_AFTER + timedelta(hours=1)
    for i, a in enumerate(x for x in articles if x.when == "after"):
        at = end + timedelta(minutes=i)
        timed.append((at, 2, article_event(a, tenant_id, at)))
    timed.sort(key=lambda x: (x[0], x[1]))
    return [e for _, _, e in timed]


def run_events(
    events: Sequence[Event], cfg: KbConfig, tenant_id: str = "eval", *, rebuild_every: int = 8
) -> tuple[list[KbChange], KbClusters]:
    """Feed events through both stages (one shard, one tenant); all changes in order.

    ``rebuild_every`` is small by default so the small sets exercise the centroid index
    and its pruning, as a long stream does.
    """
    texts = TicketTexts(cfg)
    clusters = KbClusters(tenant_id, cfg, rebuild_every=rebuild_every)
    changes: list[KbChange] = []
    for event in events:
        if event.event_type == "kb.article_created":
            changes += clusters.on_article(event)
        for t in texts.on_event(event):
            changes += clusters.on_resolved(t)
    return changes, clusters


def _majority(ticket_ids: Sequence[str], label_of: dict[str, str]) -> tuple[str, int]:
    labels = [label_of[t] for t in ticket_ids]
    counts = Counter(labels)  # insertion order = member order: ties go to the earliest
    label = max(counts, key=counts.__getitem__)
    return label, counts[label]


def evaluate(
    tickets: Sequence[LabelledTicket],
    cfg: KbConfig,
    articles: Sequence[LabelledArticle] = (),
    *,
    order_seed: int = DEFAULT_ORDER_SEED,
    warmup: Sequence[LabelledTicket] = (),
) -> KbQuality:
    """Replay the set and score the suggestions (definitions in the module docstring).

    ``warmup`` tickets (labels distinct from the set's) are replayed first so the idf is
    that of a tenant with history; suggestions whose label is a warm-up label are not
    scored, and set tickets that join warm-up clusters count as not found.
    """
    label_of = {t.ticket_id: t.label for t in tickets}
    warm_labels = {t.label for t in warmup}
    label_of.update((t.ticket_id, t.label) for t in warmup)
    if len(label_of) != len(tickets) + len(warmup) or warm_labels & {t.label for t in tickets}:
        raise ValueError("ticket ids must be unique and warm-up labels distinct")
    sizes = Counter(t.label for t in tickets)
    recurring = {label for label, n in sizes.items() if n >= cfg.min_size}
    before = {a.covers for a in articles if a.when == "before" and a.covers is not None}
    article_label = {a.article_id: a.covers for a in articles}
    late_article = {a.covers: a.article_id for a in articles if a.when == "after" and a.covers}

    events = build_events(tickets, articles, order_seed=order_seed, warmup=warmup)
    changes, clusters = run_events(events, cfg)
    opened: list[UUID] = []
    final: dict[UUID, KbSuggestion] = {}
    open_when_late: set[str] = set()  # labels that opened, so an 'after' article can flip
    for ch in changes:
        s = ch.suggestion
        if ch.opened:
            opened.append(s.suggestion_id)
        final[s.suggestion_id] = s
    credited: set[str] = set()
    flipped: set[str] = set()
    tp = duplicates = impure = covered_before_opened = wrong_covers = mixed = pure_tp = 0
    judged: list[tuple[float, bool]] = []
    for sid in opened:
        s = final[sid]
        label, count = _majority(s.ticket_ids, label_of)
        if label in warm_labels:
            continue
        pure = count == len(s.ticket_ids)
        mixed += not pure
        credited_before = len(credited)
        if label in before:
            covered_before_opened += 1
        if s.covered_by is not None and article_label.get(s.covered_by) != label:
            wrong_covers += 1
        if label in recurring and 2 * count > len(s.ticket_ids):
            if label in credited:
                duplicates += 1
            else:
                credited.add(label)
                tp += 1
        else:
            impure += 1
        correct = len(credited) > credited_before and pure
        pure_tp += correct
        judged.append((s.confidence, correct))
        late = late_article.get(label)
        if late is not None:
            open_when_late.add(label)
            if s.status == "covered" and s.covered_by == late:
                flipped.add(label)
    expected = recurring - before
    scored = tp + duplicates + impure
    return KbQuality(
        precision=tp / scored if scored else 0.0,
        recall=len(credited & expected) / len(expected) if expected else 1.0,
        suggestions=scored,
        true_positives=tp,
        duplicates=duplicates,
        impure=impure,
        mixed=mixed,
        strict_precision=pure_tp / scored if scored else 0.0,
        recurring=len(expected),
        found=len(credited & expected),
        covered_before_expected=len(before & recurring),
        covered_before_opened=covered_before_opened,
        late_expected=len(open_when_late),
        late_flipped=len(flipped),
        wrong_covers=wrong_covers,
        clusters=clusters.cluster_count,
        judged=tuple(judged),
    )
