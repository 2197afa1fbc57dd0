"""Knowledge-base suggestions: cluster resolved tickets online, flag recurring problems
that no article covers yet.

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
Leader/centroid clustering: a centroid is the sum of its members' unit vectors; a ticket
joins the live cluster of highest cosine if that is >= ``join_threshold`` (ties: lowest
slot), otherwise it seeds a new cluster. When a cluster has ``min_size`` members and no
remembered article covers it (article <-> centroid cosine >= ``cover_threshold``), it
opens a suggestion (``KbChange.opened`` is True exactly then -> one alert). Every later
growth or status change re-emits the row with ``version`` + 1. An article arriving later
that covers an open suggestion turns it ``covered``; a cluster covered before it reached
``min_size`` never opens. Coverage is checked when an article arrives (against every live
cluster) and, against every remembered article, when a not-yet-covered cluster reaches
``min_size`` and each time its size reaches a power of two after that (so a cluster
drifting onto an existing article gets covered, at a logarithmic cost).

Row fields: ``suggestion_id`` = ``stable_id("kb_suggestion", tenant, seed ticket)``;
``title`` = the subject, among the first ``TITLE_CANDIDATES`` members, whose vector has
the highest dot product with the centroid (ties: earliest); ``category`` = most common
member category (ties: first seen); ``confidence`` = ``1 - exp(-s)``, ``s`` = the sum over
non-seed members of the cosine with which each joined: evidence that grows with both
size and cohesion (each term >= ``join_threshold``). Three close paraphrases give about
0.5-0.6, eight give > 0.9.

Speed: the nearest-centroid search is vectorised. Centroids live in a feature-major
sparse index (CSR, rows = hashed features, columns = cluster slots), rebuilt every
``rebuild_every`` tickets; the tickets that arrived since are scored from a flat buffer
(one gather, one ``reduceat``, one ``bincount``). Centroids are pruned to their
``MAX_CENTROID_NNZ`` heaviest features, which keeps postings short (no loss measured on
the labelled sets down to 256). The index is derived data, rebuilt after unpickling:
snapshots hold only numpy arrays of centroids, buffer and df counts plus small lists.

Memory bounds (per tenant unless said)
--------------------------------------
* df counts: ``N_FEATURES`` int32 (512 KiB).
* clusters: ``max_clusters``; a centroid holds at most 1.25 x ``MAX_CENTROID_NNZ``
  features (8 bytes each) and up to ``TITLE_CANDIDATES`` member vectors (about one
  feature per character of text, text capped at ``MAX_TEXT_CHARS``); ``ticket_ids`` is
  capped at ``KB_MAX_TICKET_IDS``. When full, the least-recently-joined cluster that is
  not an open suggestion is evicted (else the least-recently-joined one): its rows stay as
  they are and similar tickets seed a new cluster (a new suggestion id).
* buffer: ``rebuild_every`` tickets / ``_BUFFER_NNZ`` features.
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

import numpy as np
import numpy.typing as npt
from scipy import sparse

from flows.core.timeutil import from_ms, to_ms
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

# Tuned on tests/data/kb_eval.jsonl, checked on tests/data/kb_eval_holdout.jsonl.
DEFAULT_JOIN_THRESHOLD = 0.24
DEFAULT_COVER_THRESHOLD = 0.40

TITLE_CANDIDATES = 5
MAX_CENTROID_NNZ = 256  # a centroid over this (+25 %) is pruned back to its heaviest
REBUILD_DOCS = 256  # tickets buffered between two rebuilds of the centroid index
_BUFFER_NNZ = 1 << 17  # element capacity of that buffer (a rebuild comes first if full)
_ARTICLE_REWEIGHT_MIN_DOCS = 16  # articles re-weighted when the ticket count hits 2^k >= this

Ids = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


# ---- config and data ------------------------------------------------------------------


@dataclass(frozen=True)
class KbConfig:
    """Knobs of the KB suggestion logic; thresholds are cosines in (0, 1]."""

    join_threshold: float = DEFAULT_JOIN_THRESHOLD
    cover_threshold: float = DEFAULT_COVER_THRESHOLD
    min_size: int = 3
    max_clusters: int = 1_000  # per tenant
    text_retention_ms: int = 30 * DAY_MS  # created-ticket text waits this long
    max_pending_tickets: int = 50_000  # per TicketTexts shard; oldest dropped first
    max_articles: int = 1_000  # per tenant; oldest forgotten first

    def __post_init__(self) -> None:
        for name in ("join_threshold", "cover_threshold"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 < value <= 1.0):
                raise ValueError(f"{name} must be a cosine in (0, 1], got {value!r}")
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
        self._texts: dict[str, tuple[int, str, str]] = {}  # key -> (created ms, subj, desc)
        self._done: dict[str, int] = {}  # key -> resolved ms (markers)
        self._heap: list[tuple[int, int, str]] = []  # (ms, kind, key), stale entries skipped
        self._clock: int | None = None

    def __len__(self) -> int:
        return len(self._texts) + len(self._done)

    def on_event(self, event: Event) -> list[ResolvedTicket]:
        """Fold one event in; returns the resolved ticket it completes, if any."""
        p = event.payload
        if not isinstance(p, TicketCreated | TicketResolved):
            return []
        at = to_ms(event.occurred_at)
        if self._clock is None or at > self._clock:
            self._clock = at
        self._expire()
        key = f"{event.tenant_id}\x1f{p.ticket_id}"
        if isinstance(p, TicketCreated):
            if key not in self._texts and key not in self._done and not self._too_old(at):
                subject = p.subject[:MAX_SUBJECT_CHARS]
                self._texts[key] = (at, subject, p.description[:MAX_DESCRIPTION_CHARS])
                self._push(at, _TEXT, key)
            return []
        if key in self._done:
            return []
        resolution = p.resolution_text[:MAX_RESOLUTION_CHARS]
        stored = self._texts.pop(key, None)
        if stored is None:
            subject = f"{p.category}: {p.resolution_code}"
            text = f"{subject}\n{resolution}"
        else:
            _, subject, description = stored
            text = f"{subject}\n{description}\n{resolution}"
        if not self._too_old(at):
            self._done[key] = at
            self._push(at, _DONE, key)
        return [ResolvedTicket(event.tenant_id, p.ticket_id, p.category, subject, text, at)]

    def _too_old(self, at: int) -> bool:
        assert self._clock is not None
        return at < self._clock - self.cfg.text_retention_ms

    def _push(self, at: int, kind: int, key: str) -> None:
        heapq.heappush(self._heap, (at, kind, key))
        while len(self) > self.cfg.max_pending_tickets:
            self._pop_oldest()
        if len(self._heap) > 2 * len(self) + 1024:  # drop stale entries
            self._heap = [(t, _TEXT, k) for k, (t, _, _) in self._texts.items()]
            self._heap += [(t, _DONE, k) for k, t in self._done.items()]
            heapq.heapify(self._heap)

    def _pop_oldest(self) -> None:
        while self._heap:
            at, kind, key = heapq.heappop(self._heap)
            if kind == _TEXT and self._texts.get(key, (None,))[0] == at:
                del self._texts[key]
                return
            if kind == _DONE and self._done.get(key) == at:
                del self._done[key]
                return

    def _expire(self) -> None:
        assert self._clock is not None
        cutoff = self._clock - self.cfg.text_retention_ms
        while self._heap and self._heap[0][0] < cutoff:
            at, kind, key = heapq.heappop(self._heap)
            if kind == _TEXT and self._texts.get(key, (None,))[0] == at:
                del self._texts[key]
            elif kind == _DONE and self._done.get(key) == at:
                del self._done[key]


# ---- stage 2: clustering ----------------------------------------------------------------


@dataclass(slots=True)
class _Cluster:
    """One cluster; ``idx``/``val`` is its centroid as of the last index rebuild."""

    seed: str
    first_ms: int
    updated_ms: int
    idx: Ids
    val: Floats
    size: int = 1
    sim_sum: float = 0.0  # sum of join cosines of the non-seed members
    ticket_ids: list[str] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)
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


def _prune(idx: Ids, val: F64) -> tuple[Ids, F64]:
    """The ``MAX_CENTROID_NNZ`` heaviest features (ties: lower id), in id order."""
    top = np.sort(np.argsort(-val, kind="stable")[:MAX_CENTROID_NNZ])  # idx is sorted
    return idx[top], val[top]


_EMPTY_IDS: Ids = np.zeros(0, dtype=np.int32)
_EMPTY_VALS: Floats = np.zeros(0, dtype=np.float32)
_PRUNE_ABOVE = MAX_CENTROID_NNZ + MAX_CENTROID_NNZ // 4


class KbClusters:
    """One tenant's online clusters of resolved tickets and its known articles.

    See the module docstring for the method, the row semantics and the bounds.
    ``rebuild_every`` (tickets between two rebuilds of the centroid index) trades the
    cost of a rebuild against the cost of scanning the buffer; it changes no decision
    beyond float rounding and when centroids get pruned.
    """

    _DERIVED = ("_base", "_q", "_art_index")

    def __init__(self, tenant_id: str, cfg: KbConfig, *, rebuild_every: int = REBUILD_DOCS) -> None:
        if rebuild_every < 1:
            raise ValueError(f"rebuild_every must be >= 1, got {rebuild_every}")
        self.tenant_id = tenant_id
        self.cfg = cfg
        self.rebuild_every = rebuild_every
        k = cfg.max_clusters
        self._df = np.zeros(N_FEATURES, dtype=np.int32)
        self._n_docs = 0
        self._clusters: list[_Cluster | None] = [None] * k
        self._free: list[int] = list(range(k - 1, -1, -1))  # a stack: lowest slot first
        self._norm2 = np.zeros(k, dtype=np.float64)  # |centroid|^2, buffer included
        self._live = np.zeros(k, dtype=bool)
        self._fresh = np.zeros(k, dtype=bool)  # (re)assigned since the last rebuild
        self._open = np.zeros(k, dtype=bool)  # holds an open suggestion
        self._last_join = np.zeros(k, dtype=np.int64)
        self._seq = 0
        # tickets since the last rebuild: ticket j has elements buf_start[j]:buf_start[j+1]
        # (the last one up to buf_n) and belongs to slot buf_slot[j] (max_clusters: dropped)
        self._buf_n = 0
        self._buf_docs = 0
        self._buf_idx: Ids = np.zeros(_BUFFER_NNZ, dtype=np.int32)
        self._buf_val: Floats = np.zeros(_BUFFER_NNZ, dtype=np.float32)
        self._buf_start: Ids = np.zeros(rebuild_every, dtype=np.int32)
        self._buf_slot: Ids = np.zeros(rebuild_every, dtype=np.int32)
        self._articles: list[_Article] = []
        self._base: Any = None  # derived: CSR (features x slots) of the centroids
        self._q: Floats | None = None  # derived: dense scratch vector
        self._art_index: Any = None  # derived: CSR (features x articles)

    # ---- pickling: derived structures are rebuilt, buffers trimmed ----------------------

    _BUFFERS = (
        ("_buf_idx", "_buf_n", _BUFFER_NNZ, np.int32),
        ("_buf_val", "_buf_n", _BUFFER_NNZ, np.float32),
        ("_buf_start", "_buf_docs", None, np.int32),
        ("_buf_slot", "_buf_docs", None, np.int32),
    )

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self._DERIVED}
        for name, used, _, _ in self._BUFFERS:
            state[name] = getattr(self, name)[: getattr(self, used)].copy()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name, used, size, dtype in self._BUFFERS:
            buf = np.zeros(size or self.rebuild_every, dtype=dtype)
            buf[: getattr(self, used)] = state[name]
            setattr(self, name, buf)
        self._base = self._q = self._art_index = None

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
        if self._buf_docs >= self.rebuild_every or self._buf_n + idx.size > _BUFFER_NNZ:
            self._rebuild()
        q = self._scratch()
        q[idx] = w
        try:
            dots = self._dots(idx, w)
            slot, cos = self._nearest(dots)
            if slot >= 0 and cos >= self.cfg.join_threshold:
                self._join(slot, idx, w, float(dots[slot]), cos, t)
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
        q = self._scratch()
        q[idx] = w
        try:
            dots = self._dots(idx, w)
        finally:
            q[idx] = 0.0
        cos = self._cosines(dots)
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

    def suggestions(self) -> list[KbSuggestion]:
        """Current rows of the live clusters that opened a suggestion (by seed time, id)."""
        rows = [self._row(c) for c in self._clusters if c is not None and c.status is not None]
        return sorted(rows, key=lambda r: (r.first_seen, str(r.suggestion_id)))

    @property
    def cluster_count(self) -> int:
        """Live clusters, singletons included."""
        return int(self._live.sum())

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

    def _scratch(self) -> Floats:
        """A dense copy of the current vector (float32: it stays in the CPU cache)."""
        if self._q is None:
            self._q = np.zeros(N_FEATURES, dtype=np.float32)
        return self._q

    def _dots(self, idx: Ids, w: F64) -> F64:
        """Dot products of a unit vector (already in the scratch) with every slot's
        centroid: the index part plus the buffered tickets."""
        k = self.cfg.max_clusters
        base = self._index()
        if base.nnz:
            dots = np.asarray(w @ base[idx], dtype=np.float64).ravel()
            dots[self._fresh] = 0.0
        else:
            dots = np.zeros(k, dtype=np.float64)
        docs = self._buf_docs
        if docs:
            prod = np.take(self._scratch(), self._buf_idx[: self._buf_n])
            prod *= self._buf_val[: self._buf_n]
            per_ticket = np.add.reduceat(prod, self._buf_start[:docs])
            dots += np.bincount(self._buf_slot[:docs], weights=per_ticket, minlength=k + 1)[:k]
        return dots

    def _cosines(self, dots: F64) -> F64:
        cos = np.full(self.cfg.max_clusters, -np.inf)
        np.divide(dots, np.sqrt(self._norm2), out=cos, where=self._live)
        return cos

    def _nearest(self, dots: F64) -> tuple[int, float]:
        if not self._live.any():
            return -1, -math.inf
        cos = self._cosines(dots)
        slot = int(np.argmax(cos))
        return slot, float(cos[slot])

    # ---- cluster updates ------------------------------------------------------------------

    def _buffer(self, idx: Ids, w: F64, slot: int) -> None:
        n, m, d = self._buf_n, idx.size, self._buf_docs
        self._buf_idx[n : n + m] = idx
        self._buf_val[n : n + m] = w
        self._buf_start[d] = n
        self._buf_slot[d] = slot
        self._buf_n = n + m
        self._buf_docs = d + 1

    def _buffered(self, slot: int) -> tuple[Ids, Floats]:
        """The buffered elements of one slot (several tickets: ids may repeat)."""
        docs, n = self._buf_docs, self._buf_n
        ends = np.append(self._buf_start[1:docs], n)
        mine = np.flatnonzero(self._buf_slot[:docs] == slot).tolist()
        parts = [(self._buf_start[j], ends[j]) for j in mine]
        if not parts:
            return _EMPTY_IDS, _EMPTY_VALS
        idx = np.concatenate([self._buf_idx[a:b] for a, b in parts])
        val = np.concatenate([self._buf_val[a:b] for a, b in parts])
        return idx, val

    def _touch(self, c: _Cluster, slot: int, t: ResolvedTicket) -> None:
        self._seq += 1
        self._last_join[slot] = self._seq
        c.first_ms = min(c.first_ms, t.resolved_at_ms)
        c.updated_ms = max(c.updated_ms, t.resolved_at_ms)
        if len(c.ticket_ids) < KB_MAX_TICKET_IDS:
            c.ticket_ids.append(t.ticket_id)
        c.categories[t.category] = c.categories.get(t.category, 0) + 1

    def _join(self, slot: int, idx: Ids, w: F64, dot: float, cos: float, t: ResolvedTicket) -> None:
        c = self._clusters[slot]
        assert c is not None
        self._buffer(idx, w, slot)
        self._norm2[slot] += 2.0 * dot + 1.0  # |c + w|^2 with |w| = 1
        c.size += 1
        c.sim_sum += cos
        self._touch(c, slot, t)
        q = self._scratch()
        overlap = [
            float(np.take(q, ci) @ cv) for ci, cv in zip(c.cand_idx, c.cand_val, strict=True)
        ]
        for j, d in enumerate(overlap):
            c.cand_score[j] += d
        if len(c.cand_idx) < TITLE_CANDIDATES:  # all members so far are candidates: exact
            c.cand_subjects.append(t.subject)
            c.cand_idx.append(idx)
            c.cand_val.append(w.astype(np.float32))
            c.cand_score.append(1.0 + sum(overlap))

    def _seed(self, idx: Ids, w: F64, t: ResolvedTicket) -> int:
        slot = self._free.pop() if self._free else self._evict()
        c = _Cluster(t.ticket_id, t.resolved_at_ms, t.resolved_at_ms, _EMPTY_IDS, _EMPTY_VALS)
        c.cand_subjects.append(t.subject)
        c.cand_idx.append(idx)
        c.cand_val.append(w.astype(np.float32))
        c.cand_score.append(1.0)
        self._clusters[slot] = c
        self._live[slot] = True
        self._fresh[slot] = True
        self._norm2[slot] = 1.0
        self._touch(c, slot, t)
        self._buffer(idx, w, slot)
        return slot

    def _evict(self) -> int:
        """Free the least-recently-joined slot, sparing open suggestions if possible."""
        spare = self._live & ~self._open
        pool = spare if spare.any() else self._live
        slot = int(np.argmin(np.where(pool, self._last_join, np.iinfo(np.int64).max)))
        self._clusters[slot] = None
        self._live[slot] = self._open[slot] = False
        self._norm2[slot] = 0.0
        owners = self._buf_slot[: self._buf_docs]
        owners[owners == slot] = self.cfg.max_clusters
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

    # ---- the centroid index ---------------------------------------------------------------

    def _index(self) -> Any:
        if self._base is None:
            k = self.cfg.max_clusters
            lens = np.zeros(k + 1, dtype=np.int64)
            idx_parts: list[Ids] = []
            val_parts: list[Floats] = []
            for slot, c in enumerate(self._clusters):
                if c is not None and c.idx.size:
                    lens[slot + 1] = c.idx.size
                    idx_parts.append(c.idx)
                    val_parts.append(c.val)
            idx = np.concatenate(idx_parts) if idx_parts else _EMPTY_IDS
            val = np.concatenate(val_parts) if val_parts else _EMPTY_VALS
            by_slot = sparse.csc_matrix((val, idx, np.cumsum(lens)), shape=(N_FEATURES, k))
            self._base = by_slot.tocsr()
        return self._base

    def _rebuild(self) -> None:
        """Fold the buffered tickets into the centroids (pruned) and drop the index.

        Keys are ``slot * N_FEATURES + feature``: the centroids of the touched slots,
        concatenated in slot order, form one sorted key array, and so do the buffered
        sums; one ``searchsorted`` merges them.
        """
        docs, n, k = self._buf_docs, self._buf_n, self.cfg.max_clusters
        lens = np.diff(np.append(self._buf_start[:docs], n))
        slots = np.repeat(self._buf_slot[:docs], lens)
        keep = slots < k
        keys = slots[keep].astype(np.int64) * N_FEATURES + self._buf_idx[:n][keep]
        add_keys, inverse = np.unique(keys, return_inverse=True)
        add_vals = np.asarray(np.bincount(inverse, weights=self._buf_val[:n][keep]), np.float64)
        dirty = np.unique(add_keys // N_FEATURES).tolist()
        own_keys = [slot * N_FEATURES + self._cluster(slot).idx.astype(np.int64) for slot in dirty]
        own_vals = [self._cluster(slot).val.astype(np.float64) for slot in dirty]
        old_keys = np.concatenate(own_keys) if own_keys else np.zeros(0, dtype=np.int64)
        old_vals = np.concatenate(own_vals) if own_vals else np.zeros(0, dtype=np.float64)
        all_keys: npt.NDArray[np.int64] = add_keys
        all_vals: F64 = add_vals
        if old_keys.size:
            pos = np.asarray(np.searchsorted(old_keys, add_keys), dtype=np.int64)
            at = np.minimum(pos, old_keys.size - 1)
            hit = old_keys[at] == add_keys
            old_vals[at[hit]] += add_vals[hit]
            new = ~hit
            all_keys = np.insert(old_keys, pos[new], add_keys[new])
            all_vals = np.insert(old_vals, pos[new], add_vals[new])
        bounds = np.searchsorted(all_keys, np.asarray([*dirty, k], dtype=np.int64) * N_FEATURES)
        for j, slot in enumerate(dirty):
            a, b = int(bounds[j]), int(bounds[j + 1])
            idx = (all_keys[a:b] - slot * N_FEATURES).astype(np.int32)
            val = all_vals[a:b]
            if idx.size > _PRUNE_ABOVE:
                idx, val = _prune(idx, val)
            c = self._cluster(slot)
            c.idx, c.val = idx, val.astype(np.float32)
            stored = c.val.astype(np.float64)
            self._norm2[slot] = float(stored @ stored)
        self._buf_n = self._buf_docs = 0
        self._fresh[:] = False
        self._base = None

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
        c = self._cluster(slot)
        b_idx, b_val = self._buffered(slot)
        idx = np.concatenate([c.idx, b_idx])
        val = np.concatenate([c.val, b_val]).astype(np.float64)
        row = sparse.csr_matrix((val, idx, np.array([0, idx.size])), shape=(1, N_FEATURES))
        dots = np.asarray((row @ self._article_index()).toarray()).ravel()
        cos = dots / math.sqrt(float(self._norm2[slot]))
        best = int(np.argmax(cos))
        if cos[best] >= self.cfg.cover_threshold:
            return self._articles[best].article_id
        return None

    # ---- rows -----------------------------------------------------------------------------

    def _row(self, c: _Cluster) -> KbSuggestion:
        assert c.status is not None
        best = max(range(len(c.cand_score)), key=lambda j: (c.cand_score[j], -j))
        confidence = 1.0 - math.exp(-c.sim_sum)
        return KbSuggestion(
            suggestion_id=stable_id("kb_suggestion", self.tenant_id, c.seed),
            version=c.version,
            tenant_id=self.tenant_id,
            status=c.status,
            title=c.cand_subjects[best],
            category=max(c.categories, key=c.categories.__getitem__),
            ticket_ids=list(c.ticket_ids),
            size=c.size,
            confidence=min(1.0, max(1e-4, round(confidence, 4))),
            covered_by=c.covered_by,
            first_seen=from_ms(c.first_ms),
            updated_at=from_ms(c.updated_ms),
        )


def kb_alert(change: KbChange, fired_at: datetime) -> Alert:
    """The ``kb_suggestion`` alert of a suggestion that just opened (one per suggestion)."""
    s = change.suggestion
    return Alert(
        alert_id=stable_id("kb_suggestion_alert", s.suggestion_id),
        tenant_id=s.tenant_id,
        kind="kb_suggestion",
        severity="low",
        subject_type="kb_suggestion",
        subject_id=str(s.suggestion_id),
        title=f"KB article suggested: {s.title} ({s.size} similar tickets)",
        details={
            "suggestion_id": str(s.suggestion_id),
            "title": s.title,
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
