"""Instants as ClickHouse ``DateTime64(3, 'UTC')`` holds them, read and bound safely."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.rows import as_utc

# What ``DateTime64`` holds: no stored instant lies outside, so a query bound beyond it
# is clamped to it without changing the rows matched.
TS_MIN = datetime(1900, 1, 1, tzinfo=UTC)
TS_MAX = datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def clamp_ts(value: datetime) -> datetime:
    """``value`` (naive = UTC) as aware UTC, clamped to ``[TS_MIN, TS_MAX]``.

    Safe for any ``datetime``: one near ``datetime.min``/``max`` with an offset cannot be
    converted to UTC (``OverflowError``), but it is compared, not converted.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    if value <= TS_MIN:
        return TS_MIN
    if value >= TS_MAX:
        return TS_MAX
    return value.astimezone(UTC)


__all__ = ["TS_MAX", "TS_MIN", "as_utc", "clamp_ts"]
