"""Event time as integer milliseconds since the Unix epoch (UTC).

Integers make window arithmetic exact and cheap on the hot path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def system_utc() -> datetime:
    """The wall clock, injected as ``FlowConfig.now`` so tests can control it."""
    return datetime.now(UTC)


def to_ms(dt: datetime) -> int:
    return (dt - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def window_start(ts_ms: int, size_ms: int) -> int:
    """Start of the UTC-aligned tumbling window of ``size_ms`` holding ``ts_ms``."""
    return ts_ms - ts_ms % size_ms
