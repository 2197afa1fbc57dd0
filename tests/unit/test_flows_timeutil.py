"""flows.core.timeutil: integer-millisecond event time and UTC-aligned tumbling windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.core.timeutil import from_ms, to_ms, window_start
from tests.unit.helpers import DAY_MS, HOUR_MS, MINUTE_MS, T0, T0_MS

SIZES = {"5m": 5 * MINUTE_MS, "1h": HOUR_MS, "1d": DAY_MS}

# 1900..2200: well inside datetime's range, includes pre-epoch instants.
MS = st.integers(min_value=-2_208_988_800_000, max_value=7_258_118_400_000)
MS_DATETIMES = MS.map(from_ms)


def test_epoch_is_zero() -> None:
    assert to_ms(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert from_ms(0) == datetime(1970, 1, 1, tzinfo=UTC)


def test_known_instant() -> None:
    assert to_ms(T0) == T0_MS
    assert to_ms(T0 + timedelta(milliseconds=1)) == T0_MS + 1
    assert from_ms(T0_MS + 1_500) == datetime(2025, 1, 6, 0, 0, 1, 500_000, tzinfo=UTC)


def test_from_ms_is_utc_aware() -> None:
    dt = from_ms(T0_MS)
    assert dt.tzinfo is not None
    assert dt.utcoffset() == timedelta(0)


def test_to_ms_respects_the_offset_of_aware_datetimes() -> None:
    plus_two = datetime(2025, 1, 6, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    minus_five = datetime(2025, 1, 5, 19, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert to_ms(plus_two) == to_ms(minus_five) == T0_MS


def test_to_ms_rejects_naive_datetimes() -> None:
    with pytest.raises(TypeError):
        to_ms(datetime(2025, 1, 6))  # naive on purpose


def test_sub_millisecond_precision_is_floored() -> None:
    assert to_ms(T0 + timedelta(microseconds=999)) == T0_MS
    assert to_ms(T0 - timedelta(microseconds=1)) == T0_MS - 1  # floor, not truncation


@given(MS)
def test_ms_round_trip(ms: int) -> None:
    assert to_ms(from_ms(ms)) == ms


@given(MS_DATETIMES)
def test_datetime_round_trip_at_ms_precision(dt: datetime) -> None:
    assert from_ms(to_ms(dt)) == dt


@given(MS_DATETIMES, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_round_trip_is_offset_independent(dt: datetime, offset_min: int) -> None:
    local = dt.astimezone(timezone(timedelta(minutes=offset_min)))
    assert to_ms(local) == to_ms(dt)
    assert from_ms(to_ms(local)) == dt


@pytest.mark.parametrize(("name", "size"), SIZES.items())
def test_window_start_aligns_to_utc(name: str, size: int) -> None:
    ts = to_ms(datetime(2025, 3, 17, 13, 47, 31, 250_000, tzinfo=UTC))
    start = from_ms(window_start(ts, size))
    expected = {
        "5m": datetime(2025, 3, 17, 13, 45, tzinfo=UTC),
        "1h": datetime(2025, 3, 17, 13, 0, tzinfo=UTC),
        "1d": datetime(2025, 3, 17, tzinfo=UTC),
    }[name]
    assert start == expected


@pytest.mark.parametrize("size", SIZES.values())
def test_event_exactly_at_a_boundary_opens_the_next_window(size: int) -> None:
    boundary = T0_MS + 7 * size
    assert window_start(boundary, size) == boundary
    assert window_start(boundary - 1, size) == boundary - size
    assert window_start(boundary + size - 1, size) == boundary


@pytest.mark.parametrize("size", SIZES.values())
def test_window_start_before_the_epoch_is_still_aligned(size: int) -> None:
    assert window_start(-1, size) == -size
    assert window_start(-size, size) == -size


@given(MS, st.sampled_from(sorted(SIZES.values())))
def test_window_start_holds_the_instant(ts: int, size: int) -> None:
    start = window_start(ts, size)
    assert start <= ts < start + size
    assert start % size == 0
    assert window_start(start, size) == start  # idempotent


@given(MS)
def test_windows_nest(ts: int) -> None:
    """A 5m window sits inside its hour, which sits inside its UTC day."""
    m5, h1, d1 = (window_start(ts, SIZES[n]) for n in ("5m", "1h", "1d"))
    assert d1 <= h1 <= m5 <= ts
    assert m5 + SIZES["5m"] <= h1 + SIZES["1h"] <= d1 + SIZES["1d"]
    day = from_ms(d1)
    assert (day.hour, day.minute, day.second, day.microsecond) == (0, 0, 0, 0)
