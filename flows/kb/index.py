"""The sparse centroid index behind KB clustering: which live cluster is nearest to a
ticket vector, fast.

Why a module of its own: it is numerics only (sparse matrices, buffers, pruning) and
knows nothing of suggestions, articles or tenants; :mod:`flows.kb.clusters` decides what
a cluster means and when it opens, and asks this index for dot products and cosines.

A centroid is the sum of its members' unit vectors. Centroids live in a feature-major
sparse index (CSR, rows = hashed features, columns = cluster slots), rebuilt every
``rebuild_every`` tickets; the tickets added since are scored from a flat buffer (one
gather, one ``reduceat``, one ``bincount``). Centroids are pruned to their
``MAX_CENTROID_NNZ`` heaviest features, which keeps postings short (no loss measured on
the labelled sets down to 256). The CSR and the dense scratch vector are derived data,
rebuilt after unpickling; snapshots hold only the centroids and the trimmed buffer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from flows.kb.text import N_FEATURES

MAX_CENTROID_NNZ = 256  # a centroid over this (+25 %) is pruned back to its heaviest
REBUILD_DOCS = 256  # tickets buffered between two rebuilds of the centroid index
BUFFER_NNZ = 1 << 17  # element capacity of that buffer (a rebuild comes first if full)

Ids = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

EMPTY_IDS: Ids = np.zeros(0, dtype=np.int32)
EMPTY_VALS: Floats = np.zeros(0, dtype=np.float32)
_PRUNE_ABOVE = MAX_CENTROID_NNZ + MAX_CENTROID_NNZ // 4


def _prune(idx: Ids, val: F64) -> tuple[Ids, F64]:
    """The ``MAX_CENTROID_NNZ`` heaviest features (ties: lower id), in id order."""
    top = np.sort(np.argsort(-val, kind="stable")[:MAX_CENTROID_NNZ])  # idx is sorted
    return idx[top], val[top]


class CentroidIndex:
    """``slots`` centroids of unit vectors; a slot is live from :meth:`seed` to
    :meth:`drop`. A query vector goes into :meth:`scratch` (at its ids) before
    :meth:`dots` and is cleared by the caller after."""

    _DERIVED = ("_base", "_q")
    _BUFFERS = (
        ("_buf_idx", "_buf_n", BUFFER_NNZ, np.int32),
        ("_buf_val", "_buf_n", BUFFER_NNZ, np.float32),
        ("_buf_start", "_buf_docs", None, np.int32),
        ("_buf_slot", "_buf_docs", None, np.int32),
    )

    def __init__(self, slots: int, rebuild_every: int = REBUILD_DOCS) -> None:
        if rebuild_every < 1:
            raise ValueError(f"rebuild_every must be >= 1, got {rebuild_every}")
        self.slots = slots
        self.rebuild_every = rebuild_every
        # each slot's centroid as of the last rebuild (sorted feature ids, sums)
        self._idx: list[Ids] = [EMPTY_IDS] * slots
        self._val: list[Floats] = [EMPTY_VALS] * slots
        self.norm2 = np.zeros(slots, dtype=np.float64)  # |centroid|^2, buffer included
        self.live = np.zeros(slots, dtype=bool)
        self._fresh = np.zeros(slots, dtype=bool)  # (re)assigned since the last rebuild
        # tickets since the last rebuild: ticket j has elements buf_start[j]:buf_start[j+1]
        # (the last one up to buf_n) and belongs to slot buf_slot[j] (slots: dropped)
        self._buf_n = 0
        self._buf_docs = 0
        self._buf_idx: Ids = np.zeros(BUFFER_NNZ, dtype=np.int32)
        self._buf_val: Floats = np.zeros(BUFFER_NNZ, dtype=np.float32)
        self._buf_start: Ids = np.zeros(rebuild_every, dtype=np.int32)
        self._buf_slot: Ids = np.zeros(rebuild_every, dtype=np.int32)
        self._base: Any = None  # derived: CSR (features x slots) of the centroids
        self._q: Floats | None = None  # derived: dense scratch vector

    # ---- pickling: derived structures are rebuilt, buffers trimmed ----------------------

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
        self._base = self._q = None

    # ---- queries --------------------------------------------------------------------------

    def scratch(self) -> Floats:
        """A dense copy of the current vector (float32: it stays in the CPU cache)."""
        if self._q is None:
            self._q = np.zeros(N_FEATURES, dtype=np.float32)
        return self._q

    def dots(self, idx: Ids, w: F64) -> F64:
        """Dot products of a unit vector (already in the scratch) with every slot's
        centroid: the index part plus the buffered tickets."""
        k = self.slots
        base = self._index()
        if base.nnz:
            dots = np.asarray(w @ base[idx], dtype=np.float64).ravel()
            dots[self._fresh] = 0.0
        else:
            dots = np.zeros(k, dtype=np.float64)
        docs = self._buf_docs
        if docs:
            prod = np.take(self.scratch(), self._buf_idx[: self._buf_n])
            prod *= self._buf_val[: self._buf_n]
            per_ticket = np.add.reduceat(prod, self._buf_start[:docs])
            dots += np.bincount(self._buf_slot[:docs], weights=per_ticket, minlength=k + 1)[:k]
        return dots

    def cosines(self, dots: F64) -> F64:
        cos = np.full(self.slots, -np.inf)
        np.divide(dots, np.sqrt(self.norm2), out=cos, where=self.live)
        return cos

    def nearest(self, dots: F64) -> tuple[int, float]:
        """The live slot of highest cosine (ties: lowest slot), or (-1, -inf)."""
        if not self.live.any():
            return -1, -math.inf
        cos = self.cosines(dots)
        slot = int(np.argmax(cos))
        return slot, float(cos[slot])

    def nearest_two(self, dots: F64) -> tuple[int, float, float]:
        """The live slot of highest cosine (ties: lowest slot), its cosine and the
        second-highest cosine (0.0 without a second live slot); (-1, -inf, 0.0) when
        no slot is live."""
        slot, best = self.nearest(dots)
        if slot < 0:
            return slot, best, 0.0
        cos = self.cosines(dots)
        cos[slot] = -np.inf
        second = float(cos.max())
        return slot, best, max(second, 0.0)

    def centroid(self, slot: int) -> tuple[Ids, Floats]:
        """The slot's centroid as of the last rebuild."""
        return self._idx[slot], self._val[slot]

    def full_centroid(self, slot: int) -> tuple[Ids, F64]:
        """The slot's centroid with its buffered tickets (ids may repeat)."""
        b_idx, b_val = self._buffered(slot)
        idx = np.concatenate([self._idx[slot], b_idx])
        val = np.concatenate([self._val[slot], b_val]).astype(np.float64)
        return idx, val

    # ---- updates --------------------------------------------------------------------------

    def make_room(self, nnz: int) -> None:
        """Rebuild first if the buffer cannot take a ticket of ``nnz`` features."""
        if self._buf_docs >= self.rebuild_every or self._buf_n + nnz > BUFFER_NNZ:
            self.rebuild()

    def seed(self, slot: int, idx: Ids, w: F64) -> None:
        """A new centroid in a free slot: the unit vector ``w``."""
        self._idx[slot], self._val[slot] = EMPTY_IDS, EMPTY_VALS
        self.live[slot] = True
        self._fresh[slot] = True
        self.norm2[slot] = 1.0
        self._buffer(idx, w, slot)

    def join(self, slot: int, idx: Ids, w: F64, dot: float) -> None:
        """Add the unit vector ``w`` (``dot``: its dot product with the centroid)."""
        self._buffer(idx, w, slot)
        self.norm2[slot] += 2.0 * dot + 1.0  # |c + w|^2 with |w| = 1

    def drop(self, slot: int) -> None:
        """Free a slot; its buffered tickets are ignored from now on."""
        self._idx[slot], self._val[slot] = EMPTY_IDS, EMPTY_VALS
        self.live[slot] = False
        self.norm2[slot] = 0.0
        owners = self._buf_slot[: self._buf_docs]
        owners[owners == slot] = self.slots

    def restart(self, slot: int, idx: Ids, val: F64) -> None:
        """Replace a live slot's centroid by the sum ``val`` at the sorted unique ids
        ``idx`` (its old centroid and buffered tickets are dropped)."""
        self.drop(slot)
        self.make_room(idx.size)
        self.live[slot] = True
        self._fresh[slot] = True
        self.norm2[slot] = float(val @ val)
        self._buffer(idx, val, slot)

    def rebuild(self) -> None:
        """Fold the buffered tickets into the centroids (pruned) and drop the index.

        Keys are ``slot * N_FEATURES + feature``: the centroids of the touched slots,
        concatenated in slot order, form one sorted key array, and so do the buffered
        sums; one ``searchsorted`` merges them.
        """
        docs, n, k = self._buf_docs, self._buf_n, self.slots
        lens = np.diff(np.append(self._buf_start[:docs], n))
        slots = np.repeat(self._buf_slot[:docs], lens)
        keep = slots < k
        keys = slots[keep].astype(np.int64) * N_FEATURES + self._buf_idx[:n][keep]
        add_keys, inverse = np.unique(keys, return_inverse=True)
        add_vals = np.asarray(np.bincount(inverse, weights=self._buf_val[:n][keep]), np.float64)
        dirty = np.unique(add_keys // N_FEATURES).tolist()
        own_keys = [slot * N_FEATURES + self._idx[slot].astype(np.int64) for slot in dirty]
        own_vals = [self._val[slot].astype(np.float64) for slot in dirty]
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
            self._idx[slot], self._val[slot] = idx, val.astype(np.float32)
            stored = self._val[slot].astype(np.float64)
            self.norm2[slot] = float(stored @ stored)
        self._buf_n = self._buf_docs = 0
        self._fresh[:] = False
        self._base = None

    # ---- internals ------------------------------------------------------------------------

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
            return EMPTY_IDS, EMPTY_VALS
        idx = np.concatenate([self._buf_idx[a:b] for a, b in parts])
        val = np.concatenate([self._buf_val[a:b] for a, b in parts])
        return idx, val

    def _index(self) -> Any:
        if self._base is None:
            k = self.slots
            lens = np.zeros(k + 1, dtype=np.int64)
            idx_parts: list[Ids] = []
            val_parts: list[Floats] = []
            for slot in range(k):
                c_idx = self._idx[slot]
                if c_idx.size:
                    lens[slot + 1] = c_idx.size
                    idx_parts.append(c_idx)
                    val_parts.append(self._val[slot])
            idx = np.concatenate(idx_parts) if idx_parts else EMPTY_IDS
            val = np.concatenate(val_parts) if val_parts else EMPTY_VALS
            by_slot = sparse.csc_matrix((val, idx, np.cumsum(lens)), shape=(N_FEATURES, k))
            self._base = by_slot.tocsr()
        return self._base
