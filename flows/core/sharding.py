"""Stable shard keys: the same entity maps to the same shard in every process and run
(Python's ``hash`` is salted per process, so it would scatter state on restart)."""

from __future__ import annotations

import hashlib
import zlib


def shard_of(shards: int, *parts: str) -> str:
    return str(zlib.crc32("\x1f".join(parts).encode()) % shards)


def stable_offset(*parts: str) -> int:
    """A stable non-negative 63-bit number for things that have no input offset."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
