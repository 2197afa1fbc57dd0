"""Knowledge-base suggestions: cluster resolved tickets online, flag recurring problems
that no article covers yet (the suggestion lifecycle; the nearest-centroid numerics are
in :mod:`flows.kb.index`).

Pure logic (no Bytewax, Kafka or I/O), deterministic (the same event order gives the
same rows, ids and floats, with or without a pickle round trip in between) and bounded.
Two stateful classes, because the flow keys them differently:

* ``TicketTexts`` (keyed by tenant+ticket, any number of shards) keeps the subject and
  description of ``ticket.created`` until the ticket's ``ticket.resolved`` arrives and
  emits the join as a ``ResolvedTicket``.
* ``KbClusters`` (one per tenant) turns each ``ResolvedTicket`` into a vector, clusters
  online and emits ``KbChange`` rows; ``kb.article_created`` events mark what is covered.

Text representation: see :mod:`flows.kb.text` (character 4-grams, hashed, sublinear
tf x per-tenant idf).

Clustering
----------
Leader/centroid clustering: a centroid is the sum of its members' unit vectors. Joining
is two-stage, precision first (a suggestion must never mix two problems): the centroid
index finds the live cluster of highest cosine (ties: lowest slot) as the candidate; the
ticket joins it only if (1) that cosine is >= ``join_threshold``, (2) it beats the
runner-up cluster by ``join_margin`` (0 by default: measured no gain) and (3) its cosine
with *every* stored member of the cluster (the first ``TITLE_CANDIDATES``) is >=
``member_threshold``: a near-topic ticket (the same product area, another problem)
shares the area's words with the centroid but not with each member. Otherwise it seeds a
new cluster. A sentence-embedding confirmation was measured and not adopted (README).
When a cluster has ``min_size`` members and no remembered article covers it (article <->
centroid cosine >= ``cover_threshold``), it opens a suggestion (``KbChange.opened`` is
True exactly then -> one alert). Every later growth or status change re-emits the row
with ``version`` + 1. An article arriving later that covers an open suggestion turns it
``covered``; a cluster covered before it reached ``min_size`` never opens. Coverage is
checked when an article arrives (against every live cluster) and, against every
remembered article, when a not-yet-covered cluster reaches ``min_size`` and each time
its size reaches a power of two after that (so a cluster drifting onto an existing
article gets covered, at a logarithmic cost).

Row fields: ``suggestion_id`` = ``stable_id("kb_suggestion", tenant, seed ticket)``;
``title`` = the subject, among the first ``TITLE_CANDIDATES`` members, whose vector has
the highest dot product with the centroid (ties: earliest); ``category`` = most common
member category (ties: first seen); ``confidence`` = ``sigmoid(CONFIDENCE_BIAS +
CONFIDENCE_SLOPE x m)``, ``m`` = the mean cosine with which the non-seed members joined:
a logistic regression of "the suggestion is one recurring problem and nothing else" on
the tuning sets' suggestions (size added nothing once joins are strict). Reliability on
the held-out sets: README.

Speed: the nearest-centroid search is vectorised in :mod:`flows.kb.index` (a sparse
centroid index plus a buffer of recent tickets, centroids pruned to their heaviest
features); this module keeps the suggestion lifecycle: which cluster a ticket joins,
when a cluster opens, which article covers it, and its row.

Memory bounds (per tenant unless said)
--------------------------------------
* df counts: ``N_FEATURES`` int32 (512 KiB).
* clusters: ``max_clusters``; a centroid holds at most 1.25 x ``MAX_CENTROID_NNZ``
  features (8 bytes each) and up to ``TITLE_CANDIDATES`` member vectors (about one
  feature per character of text, text capped at ``MAX_TEXT_CHARS``); ``ticket_ids`` is
  capped at ``KB_MAX_TICKET_IDS``. When full, the least-recently-joined cluster that is
  not an open suggestion is evicted (else the least-recently-joined one): its rows stay as
  they are and similar tickets seed a new cluster (a new suggestion id).
* buffer: ``rebuild_every`` tickets / ``BUFFER_NNZ`` features.
* articles: the newest ``max_articles``, text capped at ``MAX_ARTICLE_CHARS``.
* ``TicketTexts`` (per shard): at most ``max_pending_tickets`` waiting texts plus
  resolved-ticket markers (oldest event time dropped first), each forgotten
  ``text_retention_ms`` after its event time; subject and description stored truncated.

Measured (``bench/kb_quality.py``: 20k tickets, 1,000 live clusters with eviction, 50
articles, on a shared 2-core machine): 2,000-2,650 resolved tickets/s of CPU time per
tenant (vectorising ~55 us, search ~100 us, index upkeep ~45 us per ticket) and 5.4 MiB
pickled (40-110 ms to pickle).

A ticket joins a cluster at most once: ``TicketTexts`` drops a second resolution (after a
reopen) while the first one's marker is remembered (``text_retention_ms``); later ones
would count again.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from scipy import sparse

from flows.core.forgotten import Forgotten
from flows.core.timeutil import from_ms, to_ms
from flows.kb.index import (
    F64,
    REBUILD_DOCS,
    CentroidIndex,
    Floats,
    Ids,
)
from flows.kb.text import (
    MAX_ARTICLE_CHARS,
    MAX_DESCRIPTION_CHARS,
    MAX_RESOLUTION_CHARS,
    MAX_SUBJECT_CHARS,
    N_FEATURES,
    term_counts,
)
from schemas.events import Event, KbArticleCreated, TicketCreated, TicketResolved
from schemas.ids import stable_id
from schemas.kb import KB_MAX_TICKET_IDS, KbStatus, KbSuggestion
from schemas.results import Alert

DAY_MS = 86_400_000

# Tuned on tests/data/kb_eval{,_near}.jsonl, checked on kb_eval{,_near}_holdout.jsonl.
DEFAULT_JOIN_THRESHOLD = 0.28
DEFAULT_COVER_THRESHOLD = 0.40
DEFAULT_MEMBER_THRESHOLD = 0.24
DEFAULT_JOIN_MARGIN = 0.0

# confidence = sigmoid(BIAS + SLOPE x mean join cosine): a logistic regression of "pure
# true positive" on the suggestions of 20 shuffled orders of kb_eval + kb_eval_near.
CONFIDENCE_BIAS = 0.94
CONFIDENCE_SLOPE = 3.58

TITLE_CANDIDATES = 5
_ARTICLE_REWEIGHT_MIN_DOCS = 16  # articles re-weighted when the ticket count hits 2^k >= this


# ---- config and data ------------------------------------------------------------------


@dataclass(frozen=True)
class KbConfig:
    """Knobs of the KB suggestion logic; thresholds are cosines in (0, 1]."""

    join_threshold: float = DEFAULT_JOIN_THRESHOLD
    cover_threshold: float = DEFAULT_COVER_THRESHOLD
    member_threshold: float = DEFAULT_MEMBER_THRESHOLD
    join_margin: float = DEFAULT_JOIN_MARGIN
    min_size: int = 3
    max_clusters: int = 1_000  # per tenant
    text_retention_ms: int = 30 * DAY_MS  # created-ticket text waits this long
    max_pending_tickets: int = 50_000  # per TicketTexts shard; oldest dropped first
    max_articles: int = 1_000  # per tenant; oldest forgotten first

    def __post_init__(self) -> None:
        for name in ("join_threshold", "cover_threshold", "member_threshold"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 < value <= 1.0):
                raise ValueError(f"{name} must be a cosine in (0, 1], got {value!r}")
        if not (isinstance(self.join_margin, int | float) and 0.0 <= self.join_margin < 1.0):
            raise ValueError(f"join_margin must be in [0, 1), got {self.join_margin!r}")
        if self.min_size < 2:
            raise ValueError(f"min_size must be >= 2, got {self.min_size}")
        if not 1 <= self.max_clusters <= 1_000_000:
            raise ValueError(f"max_clusters must be in [1, 1000000], got {self.max_clusters}")
        if self.text_retention_ms <= 0:
            raise ValueError(f"text_retention_ms must be > 0, got {self.text_retention_ms}")
        if self.max_pending_tickets < 1:
            raise ValueError(f"max_pending_tickets must be >= 1, got {self.max_pending_tickets}")
        if self.max_articles < 1:
            raise ValueError(f"max_articles must be >= 1, got {self.max_articles}")


@dataclass(frozen=True, slots=True)
class ResolvedTicket:
    """A resolved ticket with its text: the join of ``ticket.created`` and ``ticket.resolved``.

    ``text`` = subject + description + resolution text; ``category`` is the resolution's
    (the agent's final call).
    """

    tenant_id: str
    ticket_id: str
    category: str
    subject: str
    text: str
    resolved_at_ms: int
    client_id: str = ""  # the creation's ("" when its text was unknown): for erasures


@dataclass(frozen=True, slots=True)
class KbChange:
    """A new version of a suggestion; ``opened`` is True once per suggestion (-> alert)."""

    suggestion: KbSuggestion
    opened: bool


# ---- stage 1: created text + resolution -----------------------------------------------

_TEXT, _DONE = 0, 1


class TicketTexts:
    """One shard of tickets: remembers ``ticket.created`` texts until the resolution.

    ``ticket.resolved`` pops the text and emits a ``ResolvedTicket``. If the created text
    is unknown or expired, the ticket is still emitted, with ``subject`` =
    ``"<category>: <resolution_code>"`` and text = that subject + the resolution text, so
    a recurring fix still counts. A resolved ticket leaves a marker: a second resolution
    (after a reopen) and a late ``ticket.created`` are ignored while it lasts. A repeated
    ``ticket.created`` keeps the first text. Other event types are ignored.

    Bounds: texts and markers expire ``text_retention_ms`` after their event time (the
    clock is the newest event time seen) and there are at most ``max_pending_tickets`` of
    them together, the oldest by event time dropped first.
    """

    def __init__(self, cfg: KbConfig) -> None:
        self.cfg = cfg
        # key -> (created ms, client, subject, description)
        self._texts: dict[str, tuple[int, str, str, str]] = {}
        self._done: dict[str, tuple[int, str]] = {}  # key -> (resolved ms, client): markers
        self._heap: list[tuple[int, int, str]] = []  # (ms, kind, key), stale entries skipped
        self._clock: int | None = None
        self.forgotten = Forgotten()  # erased clients and their tickets, as digests

    def __len__(self) -> int:
        return len(self._texts) + len(self._done)

    def on_event(self, event: Event) -> list[ResolvedTicket]:
        """Fold one event in; returns the resolved ticket it completes, if any."""
        p = event.payload
        if not isinstance(p, TicketCreated | TicketResolved) or self.forgotten.screens(event):
            return []
        at = to_ms(event.occurred_at)
        if self._clock is None or at > self._clock:
            self._clock = at
        self._expire()
        key = f"{event.tenant_id}\x1f{p.ticket_id}"
        if isinstance(p, TicketCreated):
            if key not in self._texts and key not in self._done and not self._too_old(at):
                subject = p.subject[:MAX_SUBJECT_CHARS]
                description = p.description[:MAX_DESCRIPTION_CHARS]
                self._texts[key] = (at, p.client_id, subject, description)
                self._push(at, _TEXT, key)
            return []
        if key in self._done:
            return []
        resolution = p.resolution_text[:MAX_RESOLUTION_CHARS]
        stored = self._texts.pop(key, None)
        if stored is None:
            client = ""
            subject = f"{p.category}: {p.resolution_code}"
            text = f"{subject}\n{resolution}"
        else:
            _, client, subject, description = stored
            text = f"{subject}\n{description}\n{resolution}"
        if not self._too_old(at):
            self._done[key] = (at, client)
            self._push(at, _DONE, key)
        tenant = event.tenant_id
        return [ResolvedTicket(tenant, p.ticket_id, p.category, subject, text, at, client)]

    def forget_client(self, tenant: str, client_id: str) -> int:
        """Drop the texts and markers of the tenant's client's tickets (a data subject's
        erasure); returns how many tickets. A marker of a ticket whose creation text was
        unknown names no client and stays until it expires (ingest suppresses the
        erased client's ticket events, so it never matches again)."""
        prefix = f"{tenant}\x1f"
        gone = {k for k, v in self._texts.items() if v[1] == client_id and k.startswith(prefix)}
        gone |= {k for k, v in self._done.items() if v[1] == client_id and k.startswith(prefix)}
        self.forgotten.forget(tenant, client_id, (k[len(prefix) :] for k in gone))
        if gone:
            for key in gone:
                self._texts.pop(key, None)
                self._done.pop(key, None)
            self._reheap()
        return len(gone)

    def _reheap(self) -> None:
        """The expiry heap of what is held, without stale entries."""
        self._heap = [(t, _TEXT, k) for k, (t, *_) in self._texts.items()]
        self._heap += [(t, _DONE, k) for k, (t, _) in self._done.items()]
        heapq.heapify(self._heap)

    def _too_old(self, at: int) -> bool:
        assert self._clock is not None
        return at < self._clock - self.cfg.text_retention_ms

    def _push(self, at: int, kind: int, key: str) -> None:
        heapq.heappush(self._heap, (at, kind, key))
        while len(self) > self.cfg.max_pending_tickets:
            self._pop_oldest()
        if len(self._heap) > 2 * len(self) + 1024:  # drop stale entries
            self._reheap()

    def _pop_oldest(self) -> None:
        while self._heap:
            at, kind, key = heapq.heappop(self._heap)
            if kind == _TEXT and self._texts.get(key, (None,))[0] == at:
                del self._texts[key]
                return
            if kind == _DONE and self._done.get(key, (None,))[0] == at:
                del self._done[key]
                return

    def _expire(self) -> None:
        assert self._clock is not None
        cutoff = self._clock - self.cfg.text_retention_ms
        while self._heap and self._heap[0][0] < cutoff:
            at, kind, key = heapq.heappop(self._heap)
            if kind == _TEXT and self._texts.get(key, (None,))[0] == at:
                del self._texts[key]
            elif kind == _DONE and self._done.get(key, (None,))[0] == at:
                del self._done[key]


# ---- stage 2: clustering ----------------------------------------------------------------


@dataclass(slots=True)
class _Share:
    """What one client's members add to a cluster, so an erasure can take it back."""

    members: int = 0
    sim_sum: float = 0.0
    categories: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Cluster:
    """One cluster's lifecycle (its centroid lives in the index, at its slot)."""

    suggestion_id: UUID  # from the seed ticket; stays when the seed is erased
    seed_client: str | None  # the seed's client (None: the seed was erased)
    first_ms: int
    updated_ms: int
    size: int = 1
    sim_sum: float = 0.0  # sum of join cosines of the non-seed members
    ticket_ids: list[str] = field(default_factory=list)
    ticket_clients: list[str] = field(default_factory=list)  # the client of each listed one
    shares: dict[str, _Share] = field(default_factory=dict)  # by client ("": unknown)
    categories: dict[str, int] = field(default_factory=dict)
    cand_clients: list[str] = field(default_factory=list)
    cand_subjects: list[str] = field(default_factory=list)
    cand_idx: list[Ids] = field(default_factory=list)
    cand_val: list[Floats] = field(default_factory=list)
    cand_score: list[float] = field(default_factory=list)  # candidate . centroid
    covered_by: str | None = None
    status: KbStatus | None = None  # None until the suggestion opens
    version: int = 0


@dataclass(slots=True)
class _Article:
    article_id: str
    idx: Ids
    tf: Floats  # sublinear term frequencies, for re-weighting
    w: Floats  # unit tf-idf vector under the idf of the last (re-)weighting


class KbClusters:
    """One tenant's online clusters of resolved tickets and its known articles.

    See the module docstring for the method, the row semantics and the bounds.
    ``rebuild_every`` (tickets between two rebuilds of the centroid index) trades the
    cost of a rebuild against the cost of scanning the buffer; it changes no decision
    beyond float rounding and when centroids get pruned.
    """

    def __init__(self, tenant_id: str, cfg: KbConfig, *, rebuild_every: int = REBUILD_DOCS) -> None:
        self.tenant_id = tenant_id
        self.cfg = cfg
        k = cfg.max_clusters
        self.index = CentroidIndex(k, rebuild_every)
        self._df = np.zeros(N_FEATURES, dtype=np.int32)
        self._n_docs = 0
        self._clusters: list[_Cluster | None] = [None] * k
        self._free: list[int] = list(range(k - 1, -1, -1))  # a stack: lowest slot first
        self._open = np.zeros(k, dtype=bool)  # holds an open suggestion
        self._last_join = np.zeros(k, dtype=np.int64)
        self._seq = 0
        self._articles: list[_Article] = []
        self._art_index: Any = None  # derived: CSR (features x articles)

    # ---- pickling: the article index is derived, rebuilt on use --------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_art_index"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._art_index = None

    # ---- input ----------------------------------------------------------------------------

    def on_resolved(self, t: ResolvedTicket) -> list[KbChange]:
        """Cluster one resolved ticket; returns the suggestion rows it changes (0 or 1)."""
        if t.tenant_id != self.tenant_id:
            raise ValueError(f"ticket of tenant {t.tenant_id!r} fed to {self.tenant_id!r}")
        idx, tf = term_counts(t.text)
        if idx.size == 0:  # nothing left after normalisation: nothing to compare
            return []
        self._n_docs += 1
        self._df[idx] += 1
        w = self._weights(idx, tf)
        index = self.index
        index.make_room(idx.size)
        q = index.scratch()
        q[idx] = w
        try:
            dots = index.dots(idx, w)
            slot, cos, runner_up = index.nearest_two(dots)
            overlap = self._confirm(slot, cos, runner_up)
            if overlap is not None:
                self._join(slot, idx, w, float(dots[slot]), cos, overlap, t)
            else:
                slot = self._seed(idx, w, t)
        finally:
            q[idx] = 0.0
        n = self._n_docs
        if self._articles and n >= _ARTICLE_REWEIGHT_MIN_DOCS and n & (n - 1) == 0:
            self._reweight_articles()
        return self._after_growth(slot, t.resolved_at_ms)

    def on_article(self, event: Event) -> list[KbChange]:
        """Remember a ``kb.article_created`` and mark the clusters it covers.

        Open suggestions it covers turn ``covered`` (one row each); clusters not open yet
        are marked and will never open. A repeated article id replaces the earlier text.
        Other event types are ignored.
        """
        p = event.payload
        if not isinstance(p, KbArticleCreated):
            return []
        if event.tenant_id != self.tenant_id:
            raise ValueError(f"article of tenant {event.tenant_id!r} fed to {self.tenant_id!r}")
        at = to_ms(event.occurred_at)
        idx, tf = term_counts(f"{p.title}\n{p.body[:MAX_ARTICLE_CHARS]}")
        self._articles = [a for a in self._articles if a.article_id != p.article_id]
        self._art_index = None
        if idx.size == 0:
            return []
        w = self._weights(idx, tf)
        sub_tf = (1.0 + np.log(tf)).astype(np.float32)
        self._articles.append(_Article(p.article_id, idx, sub_tf, w.astype(np.float32)))
        if len(self._articles) > self.cfg.max_articles:
            del self._articles[0]
        q = self.index.scratch()
        q[idx] = w
        try:
            dots = self.index.dots(idx, w)
        finally:
            q[idx] = 0.0
        cos = self.index.cosines(dots)
        changes: list[KbChange] = []
        for slot in np.flatnonzero(cos >= self.cfg.cover_threshold).tolist():
            c = self._clusters[slot]
            assert c is not None
            if c.covered_by is not None:
                continue
            c.covered_by = p.article_id
            if c.status == "open":
                c.status = "covered"
                self._open[slot] = False
                c.version += 1
                c.updated_ms = max(c.updated_ms, at)
                changes.append(KbChange(self._row(c), opened=False))
        return changes

    def forget_client(self, client_id: str, at_ms: int) -> list[KbChange]:
        """Take an erased client's tickets out of every cluster (a data subject's
        erasure at event time ``at_ms``); returns the suggestion rows that change.

        A cluster keeps its other members and restarts its centroid from its stored
        member vectors that remain (its first members, not erased): a large cluster's
        centroid then rests on fewer members, the price of holding nothing of the erased
        texts. A suggestion that keeps ``min_size`` members gets a new version without the
        client's tickets (same id). One that falls below, or keeps no stored member to
        title it, is withdrawn: a last version with status ``withdrawn``, and
        the cluster is dissolved (similar tickets seed a new one, as after an eviction).
        A cluster of the client's tickets only vanishes without a row (all its rows are
        the client's: they are deleted from ClickHouse). The idf counts of the tenant
        stay as they are: a number per hashed 4-gram over all its tickets, no text.
        """
        changes: list[KbChange] = []
        touched = False
        for slot, c in enumerate(self._clusters):
            if c is not None and client_id in c.shares:
                touched = True
                changes.extend(self._without(slot, c, client_id, at_ms))
        if touched:  # the erased members' buffered vectors go with the rebuild
            self.index.rebuild()
        return changes

    def suggestions(self) -> list[KbSuggestion]:
        """Current rows of the live clusters that opened a suggestion (by seed time, id)."""
        rows = [self._row(c) for c in self._clusters if c is not None and c.status is not None]
        return sorted(rows, key=lambda r: (r.first_seen, str(r.suggestion_id)))

    @property
    def cluster_count(self) -> int:
        """Live clusters, singletons included."""
        return int(self.index.live.sum())

    @property
    def article_count(self) -> int:
        """Remembered articles."""
        return len(self._articles)

    # ---- vectors --------------------------------------------------------------------------

    def _weights(self, idx: Ids, tf: F64) -> F64:
        idf = np.log((1.0 + self._n_docs) / (1.0 + self._df[idx])) + 1.0
        w: F64 = (1.0 + np.log(tf)) * idf
        unit: F64 = w / math.sqrt(float(w @ w))
        return unit

    # ---- cluster updates ------------------------------------------------------------------

    def _touch(self, c: _Cluster, slot: int, t: ResolvedTicket, cos: float) -> None:
        self._seq += 1
        self._last_join[slot] = self._seq
        c.first_ms = min(c.first_ms, t.resolved_at_ms)
        c.updated_ms = max(c.updated_ms, t.resolved_at_ms)
        if len(c.ticket_ids) < KB_MAX_TICKET_IDS:
            c.ticket_ids.append(t.ticket_id)
            c.ticket_clients.append(t.client_id)
        c.categories[t.category] = c.categories.get(t.category, 0) + 1
        share = c.shares.get(t.client_id)
        if share is None:
            share = c.shares[t.client_id] = _Share()
        share.members += 1
        share.sim_sum += cos
        share.categories[t.category] = share.categories.get(t.category, 0) + 1

    def _confirm(self, slot: int, cos: float, runner_up: float) -> list[float] | None:
        """The ticket's cosines with the stored members of its nearest cluster if it may
        join it (see the module docstring, "Joining"), else None. The ticket is in the
        scratch vector."""
        cfg = self.cfg
        if slot < 0 or cos < cfg.join_threshold or cos - runner_up < cfg.join_margin:
            return None
        c = self._cluster(slot)
        q = self.index.scratch()
        overlap = [
            float(np.take(q, ci) @ cv) for ci, cv in zip(c.cand_idx, c.cand_val, strict=True)
        ]
        if overlap and min(overlap) < cfg.member_threshold:
            return None
        return overlap

    def _join(
        self,
        slot: int,
        idx: Ids,
        w: F64,
        dot: float,
        cos: float,
        overlap: list[float],
        t: ResolvedTicket,
    ) -> None:
        c = self._cluster(slot)
        self.index.join(slot, idx, w, dot)
        c.size += 1
        c.sim_sum += cos
        self._touch(c, slot, t, cos)
        for j, d in enumerate(overlap):
            c.cand_score[j] += d
        if len(c.cand_idx) < TITLE_CANDIDATES:  # all members so far are candidates: exact
            c.cand_clients.append(t.client_id)
            c.cand_subjects.append(t.subject)
            c.cand_idx.append(idx)
            c.cand_val.append(w.astype(np.float32))
            c.cand_score.append(1.0 + sum(overlap))

    def _seed(self, idx: Ids, w: F64, t: ResolvedTicket) -> int:
        slot = self._free.pop() if self._free else self._evict()
        sid = stable_id("kb_suggestion", self.tenant_id, t.ticket_id)
        c = _Cluster(sid, t.client_id, t.resolved_at_ms, t.resolved_at_ms)
        c.cand_clients.append(t.client_id)
        c.cand_subjects.append(t.subject)
        c.cand_idx.append(idx)
        c.cand_val.append(w.astype(np.float32))
        c.cand_score.append(1.0)
        self._clusters[slot] = c
        self.index.seed(slot, idx, w)
        self._touch(c, slot, t, 0.0)
        return slot

    def _evict(self) -> int:
        """Free the least-recently-joined slot, sparing open suggestions if possible."""
        live = self.index.live
        spare = live & ~self._open
        pool = spare if spare.any() else live
        slot = int(np.argmin(np.where(pool, self._last_join, np.iinfo(np.int64).max)))
        self._clusters[slot] = None
        self._open[slot] = False
        self.index.drop(slot)
        return slot

    def _after_growth(self, slot: int, at: int) -> list[KbChange]:
        c = self._clusters[slot]
        assert c is not None
        size = c.size
        if size < self.cfg.min_size:
            return []
        recheck = size == self.cfg.min_size or size & (size - 1) == 0
        if c.covered_by is None and self._articles and recheck:
            c.covered_by = self._covering_article(slot)
        if c.status is None:
            if c.covered_by is not None:
                return []  # covered before it opened: never opens
            c.status = "open"
            self._open[slot] = True
            c.version = 1
            return [KbChange(self._row(c), opened=True)]
        if c.covered_by is not None and c.status == "open":
            c.status = "covered"
            self._open[slot] = False
        c.version += 1
        c.updated_ms = max(c.updated_ms, at)
        return [KbChange(self._row(c), opened=False)]

    def _without(self, slot: int, c: _Cluster, client_id: str, at_ms: int) -> list[KbChange]:
        """``c`` without the client's members (see :meth:`forget_client`)."""
        share = c.shares.pop(client_id)
        c.size -= share.members
        rest = c.sim_sum - share.sim_sum  # the join cosines of the members that stay
        if c.seed_client == client_id and c.size > 0:  # one of them takes the seed's place
            rest *= (c.size - 1) / c.size
            c.seed_client = None
        c.sim_sum = max(0.0, rest)
        for category, n in share.categories.items():
            c.categories[category] -= n
            if c.categories[category] <= 0:
                del c.categories[category]
        listed = [j for j, who in enumerate(c.ticket_clients) if who != client_id]
        c.ticket_ids = [c.ticket_ids[j] for j in listed]
        c.ticket_clients = [c.ticket_clients[j] for j in listed]
        kept = [j for j, who in enumerate(c.cand_clients) if who != client_id]
        c.cand_clients = [c.cand_clients[j] for j in kept]
        c.cand_subjects = [c.cand_subjects[j] for j in kept]
        c.cand_idx = [c.cand_idx[j] for j in kept]
        c.cand_val = [c.cand_val[j] for j in kept]
        if c.size > 0 and kept and (c.status is None or c.size >= self.cfg.min_size):
            self._restart(slot, c)
            if c.status is None:
                return []
            c.version += 1
            c.updated_ms = max(c.updated_ms, at_ms)
            return [KbChange(self._row(c), opened=False)]
        self._clusters[slot] = None
        self._open[slot] = False
        self.index.drop(slot)
        self._free.append(slot)
        if c.status is None or c.size == 0:
            return []
        c.cand_score = [float(j) for j in range(len(kept), 0, -1)]  # the first one titles
        c.status = "withdrawn"  # no longer a suggestion
        c.version += 1
        c.updated_ms = max(c.updated_ms, at_ms)
        return [KbChange(self._row(c), opened=False)]

    def _restart(self, slot: int, c: _Cluster) -> None:
        """The slot's centroid rebuilt as the sum of the cluster's stored member vectors
        (its title candidates), whose scores are taken against it again."""
        ids, inverse = np.unique(np.concatenate(c.cand_idx), return_inverse=True)
        weights = np.concatenate(c.cand_val).astype(np.float64)
        sums: F64 = np.bincount(inverse, weights=weights).astype(np.float64)
        self.index.restart(slot, ids.astype(np.int32), sums)
        q = self.index.scratch()
        q[ids] = sums
        try:
            c.cand_score = [
                float(np.take(q, ci) @ cv) for ci, cv in zip(c.cand_idx, c.cand_val, strict=True)
            ]
        finally:
            q[ids] = 0.0

    def _cluster(self, slot: int) -> _Cluster:
        c = self._clusters[slot]
        assert c is not None
        return c

    # ---- articles -------------------------------------------------------------------------

    def _reweight_articles(self) -> None:
        """Re-weight remembered articles with the current idf (at 2^k tickets: cheap)."""
        for a in self._articles:
            idf = np.log((1.0 + self._n_docs) / (1.0 + self._df[a.idx])) + 1.0
            w = a.tf.astype(np.float64) * idf
            a.w = (w / math.sqrt(float(w @ w))).astype(np.float32)
        self._art_index = None

    def _article_index(self) -> Any:
        if self._art_index is None:
            lens = np.zeros(len(self._articles) + 1, dtype=np.int64)
            lens[1:] = [a.idx.size for a in self._articles]
            by_article = sparse.csc_matrix(
                (
                    np.concatenate([a.w for a in self._articles]),
                    np.concatenate([a.idx for a in self._articles]),
                    np.cumsum(lens),
                ),
                shape=(N_FEATURES, len(self._articles)),
            )
            self._art_index = by_article.tocsr()
        return self._art_index

    def _covering_article(self, slot: int) -> str | None:
        """The remembered article closest to this centroid, if it covers it."""
        idx, val = self.index.full_centroid(slot)
        row = sparse.csr_matrix((val, idx, np.array([0, idx.size])), shape=(1, N_FEATURES))
        dots = np.asarray((row @ self._article_index()).toarray()).ravel()
        cos = dots / math.sqrt(float(self.index.norm2[slot]))
        best = int(np.argmax(cos))
        if cos[best] >= self.cfg.cover_threshold:
            return self._articles[best].article_id
        return None

    # ---- rows -----------------------------------------------------------------------------

    def _row(self, c: _Cluster) -> KbSuggestion:
        assert c.status is not None
        category = max(c.categories, key=c.categories.__getitem__)
        if c.cand_subjects:
            best = max(range(len(c.cand_score)), key=lambda j: (c.cand_score[j], -j))
            title = c.cand_subjects[best]
        else:  # a withdrawn suggestion whose stored members were all erased
            title = category
        confidence = _confidence(c.sim_sum / max(1, c.size - 1))
        return KbSuggestion(
            suggestion_id=c.suggestion_id,
            version=c.version,
            tenant_id=self.tenant_id,
            status=c.status,
            title=title,
            category=category,
            ticket_ids=list(c.ticket_ids),
            size=c.size,
            confidence=min(1.0, max(1e-4, round(confidence, 4))),
            covered_by=c.covered_by,
            first_seen=from_ms(c.first_ms),
            updated_at=from_ms(c.updated_ms),
        )


def _confidence(mean_join_cos: float) -> float:
    """Probability that a suggestion is one problem and no other, from the mean cosine
    with which its members joined: a logistic fitted on the tuning sets (see the module
    docstring, "Confidence")."""
    return 1.0 / (1.0 + math.exp(-(CONFIDENCE_BIAS + CONFIDENCE_SLOPE * mean_join_cos)))


def kb_alert(change: KbChange, fired_at: datetime) -> Alert:
    """The ``kb_suggestion`` alert of a suggestion that just opened (one per suggestion).

    Ids and figures only: the suggestion's title is a ticket subject (free text) and
    stays behind the tenant-scoped API (``/v1/kb/suggestions``), out of webhooks."""
    s = change.suggestion
    return Alert(
        alert_id=stable_id("kb_suggestion_alert", s.suggestion_id),
        tenant_id=s.tenant_id,
        kind="kb_suggestion",
        severity="low",
        subject_type="kb_suggestion",
        subject_id=str(s.suggestion_id),
        title=f"KB article suggested for {s.size} similar {s.category} tickets",
        details={
            "suggestion_id": str(s.suggestion_id),
            "category": s.category,
            "size": s.size,
            "ticket_ids": list(s.ticket_ids),
            "confidence": s.confidence,
            "status": s.status,
            "version": s.version,
        },
        event_time=s.updated_at,
        fired_at=fired_at,
    )
