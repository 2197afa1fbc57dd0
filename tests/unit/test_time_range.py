"""api.time_range: a list route's [start, end): defaults, clamping, and the 422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.exceptions import RequestValidationError

from api.time_range import time_range

NOW = datetime(2026, 3, 3, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def test_defaults_to_the_span_before_now() -> None:
    assert time_range(None, None, NOW, DAY) == (NOW - DAY, NOW)
    assert time_range(None, NOW - DAY, NOW, DAY) == (NOW - 2 * DAY, NOW - DAY)


def test_naive_is_utc_and_extremes_are_clamped() -> None:
    start, end = time_range(datetime(1, 1, 1), datetime(9999, 12, 31), NOW, DAY)
    assert start.tzinfo is not None
    assert start < NOW < end


@pytest.mark.parametrize("start", [NOW, NOW + DAY])
def test_start_not_before_end_is_a_422_on_start(start: datetime) -> None:
    with pytest.raises(RequestValidationError) as err:
        time_range(start, NOW, NOW, DAY)
    (error,) = err.value.errors()
    assert (error["loc"], error["msg"]) == (("query", "start"), "start must be before end")
