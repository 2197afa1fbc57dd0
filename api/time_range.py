"""The ``[start, end)`` of a list route's query, defaulted and checked in one place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.exceptions import RequestValidationError

from sinks.time_values import clamp_ts


def time_range(
    start: datetime | None, end: datetime | None, now: datetime, span: timedelta
) -> tuple[datetime, datetime]:
    """``end`` defaults to ``now`` and ``start`` to ``end - span``; both are clamped to
    what ClickHouse stores (so any datetime works). ``start`` not before ``end`` is a
    422 in FastAPI's own shape (a validation error on ``start``)."""
    end_utc = clamp_ts(end if end is not None else now)
    start_utc = clamp_ts(start if start is not None else end_utc - span)
    if start_utc >= end_utc:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "start"),
                    "msg": "start must be before end",
                    "input": start_utc.astimezone(UTC).isoformat(),
                }
            ]
        )
    return start_utc, end_utc
