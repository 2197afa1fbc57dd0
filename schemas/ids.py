"""Deterministic ids: the same cause always yields the same row id."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1d3c2e-2b7a-5c1e-9a43-0c1f9f3f5a10")


def stable_id(*parts: object) -> uuid.UUID:
    """UUIDv5 over the parts; a replay of the same input rewrites the same row."""
    return uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts))
