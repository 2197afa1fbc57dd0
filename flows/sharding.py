"""Stable shard keys: the same entity maps to the same shard in every process and run
(Python's ``hash`` is salted per process, so it would scatter state on restart)."""

from __future__ import annotations

import zlib


def shard_of(shards: int, *parts: str) -> str:
    return str(zlib.crc32("\x1f".join(parts).encode()) % shards)
