"""flows.watermark: min over partitions minus lateness, monotonic, optional idle advance."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flows.core.watermark import NO_TIME, Watermark

LATE = 60_000
WALL = 5_000_000_000  # an arbitrary wall clock (ms) for the tests
TIMEOUT = 30_000


def test_no_input_no_watermark() -> None:
    wm = Watermark(LATE)
    assert wm.current(WALL) == NO_TIME
    assert Watermark(LATE, idle_advance=True).current(WALL + 10**9) == NO_TIME


def test_single_partition_is_max_minus_lateness() -> None:
    wm = Watermark(LATE)
    wm.observe(0, 1_000_000, WALL)
    wm.observe(0, 1_500_000, WALL)
    assert wm.current(WALL) == 1_500_000 - LATE


def test_older_events_do_not_lower_a_partition_max() -> None:
    wm = Watermark(LATE)
    wm.observe(0, 1_500_000, WALL)
    wm.observe(0, 1_000_000, WALL)
    assert wm.max_by_partition == {0: 1_500_000}
    assert wm.current(WALL) == 1_500_000 - LATE


def test_minimum_over_partitions() -> None:
    wm = Watermark(LATE)
    wm.observe(0, 9_000_000, WALL)
    wm.observe(1, 2_000_000, WALL)
    wm.observe(2, 5_000_000, WALL)
    assert wm.current(WALL) == 2_000_000 - LATE
    wm.observe(1, 7_000_000, WALL)  # the slow partition catches up
    assert wm.current(WALL) == 5_000_000 - LATE


def test_zero_lateness() -> None:
    wm = Watermark(0)
    wm.observe(3, 42, WALL)
    assert wm.current(WALL) == 42


def test_never_moves_back_when_a_new_partition_brings_older_events() -> None:
    wm = Watermark(LATE)
    wm.observe(0, 10_000_000, WALL)
    before = wm.current(WALL)
    wm.observe(1, 1_000_000, WALL)  # a partition seen for the first time, far behind
    assert wm.current(WALL) == before
    wm.observe(1, 4_000_000, WALL)  # still behind the floor: held
    assert wm.current(WALL) == before
    wm.observe(1, 12_000_000, WALL)  # ahead again: the min moves on
    assert wm.current(WALL) == 10_000_000 - LATE
    wm.observe(0, 11_000_000, WALL)
    assert wm.current(WALL) == 11_000_000 - LATE


def test_idle_advance_off_ignores_wall_time() -> None:
    wm = Watermark(LATE, idle_advance=False)
    wm.observe(0, 1_000_000, WALL)
    assert wm.current(WALL + 3_600_000) == 1_000_000 - LATE


def test_idle_advance_adds_wall_time_since_the_newest_event_after_the_timeout() -> None:
    wm = Watermark(LATE, idle_advance=True, idle_timeout_ms=TIMEOUT)
    wm.observe(0, 1_000_000, WALL)
    assert wm.current(WALL) == 1_000_000 - LATE
    assert wm.current(WALL + TIMEOUT) == 1_000_000 - LATE  # not idle yet
    assert wm.current(WALL + TIMEOUT + 1) == 1_000_000 - LATE + TIMEOUT + 1
    assert wm.current(WALL + 90_000) == 1_000_000 - LATE + 90_000


def test_zero_idle_timeout_advances_with_any_wall_time() -> None:
    wm = Watermark(LATE, idle_advance=True, idle_timeout_ms=0)
    wm.observe(0, 1_000_000, WALL)
    assert wm.current(WALL + 1) == 1_000_000 - LATE + 1


def test_idle_advance_counts_from_the_newest_event_over_all_partitions() -> None:
    wm = Watermark(LATE, idle_advance=True, idle_timeout_ms=TIMEOUT)
    wm.observe(0, 1_000_000, WALL)
    wm.observe(1, 2_000_000, WALL + 10_000)  # newest, seen at WALL + 10 s
    assert wm.current(WALL + 10_000) == 1_000_000 - LATE  # plain min
    # partition 0 is silent too long and the newest event is TIMEOUT + 5 s old
    now = WALL + 10_000 + TIMEOUT + 5_000
    assert wm.current(now) == 2_000_000 - LATE + TIMEOUT + 5_000


def test_a_silent_partition_stops_holding_the_others_back() -> None:
    wm = Watermark(LATE, idle_advance=True, idle_timeout_ms=TIMEOUT)
    wm.observe(0, 1_000_000, WALL)
    wm.observe(1, 5_000_000, WALL)
    wm.observe(1, 5_100_000, WALL + TIMEOUT)  # partition 1 keeps flowing
    assert wm.current(WALL + TIMEOUT) == 1_000_000 - LATE  # partition 0 silent 30 s: holds
    wm.observe(1, 5_200_000, WALL + TIMEOUT + 1)
    assert wm.current(WALL + TIMEOUT + 1) == 5_200_000 - LATE  # silent > 30 s: ignored


def test_without_idle_advance_a_silent_partition_holds_forever() -> None:
    wm = Watermark(LATE, idle_advance=False, idle_timeout_ms=TIMEOUT)
    wm.observe(0, 1_000_000, WALL)
    wm.observe(1, 5_000_000, WALL + 10 * TIMEOUT)
    assert wm.current(WALL + 100 * TIMEOUT) == 1_000_000 - LATE


def test_an_older_event_keeps_its_partition_active_but_not_the_idle_clock() -> None:
    wm = Watermark(LATE, idle_advance=True, idle_timeout_ms=TIMEOUT)
    wm.observe(0, 1_000_000, WALL)
    wm.observe(0, 900_000, WALL + 20_000)  # older event: newest's clock keeps running
    assert wm.wall_at_max_ms == WALL
    assert wm.current(WALL + TIMEOUT + 10_000) == 1_000_000 - LATE + TIMEOUT + 10_000
    wm.observe(0, 1_100_000, WALL + TIMEOUT + 10_000)  # newer event: clock restarts
    assert wm.wall_at_max_ms == WALL + TIMEOUT + 10_000
    assert wm.current(WALL + TIMEOUT + 10_000) == 1_100_000 - LATE


def test_known_partition_count_waits_for_every_partition() -> None:
    wm = Watermark(LATE, partitions=3)
    wm.observe(0, 1_000_000, WALL)
    wm.observe(1, 2_000_000, WALL)
    assert wm.current(WALL + 100 * TIMEOUT) == NO_TIME  # partition 2 not heard from yet
    wm.observe(2, 3_000_000, WALL)
    assert wm.current(WALL) == 1_000_000 - LATE


def test_known_partition_count_holds_the_floor_not_no_time() -> None:
    wm = Watermark(LATE, partitions=2)
    wm.observe(0, 1_000_000, WALL)
    wm.observe(1, 1_000_000, WALL)
    reached = wm.current(WALL)
    wm.partitions = 3  # more partitions than before (a later run, say)
    assert wm.current(WALL) == reached


def test_an_unheard_partition_is_skipped_once_idle() -> None:
    wm = Watermark(LATE, idle_advance=True, partitions=3, idle_timeout_ms=TIMEOUT)
    wm.observe(0, 1_000_000, WALL)
    wm.observe(1, 2_000_000, WALL + 20_000)
    wm.observe(0, 1_000_000, WALL + 20_000)  # partition 0 still talking
    assert wm.current(WALL + TIMEOUT) == NO_TIME  # partition 2: silent since the start
    assert wm.current(WALL + TIMEOUT + 1) == 1_000_000 - LATE


def test_wall_clock_going_back_does_not_move_it_back() -> None:
    wm = Watermark(LATE, idle_advance=True)
    wm.observe(0, 1_000_000, WALL)
    advanced = wm.current(WALL + 50_000)
    assert wm.current(WALL - 50_000) == advanced


OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("observe"),
            st.integers(0, 3),
            st.integers(0, 10_000_000),
            st.integers(0, 1_000_000),
        ),
        st.tuples(st.just("current"), st.integers(0, 1_000_000)),
    ),
    max_size=60,
)


@given(
    OPS,
    st.integers(0, 100_000),
    st.booleans(),
    st.sampled_from([None, 1, 2, 4]),
    st.integers(0, 50_000),
)
def test_monotonic_and_bounded(
    ops: list[tuple[Any, ...]],
    lateness: int,
    idle: bool,
    partitions: int | None,
    timeout: int,
) -> None:
    wm = Watermark(lateness, idle_advance=idle, partitions=partitions, idle_timeout_ms=timeout)
    maxes: dict[int, int] = {}
    last = NO_TIME
    wall = WALL
    for op in ops:
        if op[0] == "observe":
            _, part, ts, dwall = op
            part %= partitions or 4
            wall += dwall
            wm.observe(part, ts, wall)
            maxes[part] = max(maxes.get(part, ts), ts)
        else:
            wall += op[1]
            value = wm.current(wall)
            assert value >= last  # never moves backwards
            if not maxes:
                assert value == NO_TIME
            else:
                if partitions is None or len(maxes) == partitions:
                    assert value >= min(maxes.values()) - lateness
                if not idle:  # without idle advance it is never ahead of the newest - lateness
                    assert value <= max(maxes.values()) - lateness
            last = value


def test_unheard_partition_goes_idle_with_a_clock_starting_at_zero() -> None:
    """Wall time 0 is a real start: an unheard partition is idle TIMEOUT + 1 ms after it.

    Partition 0's second event is newer, so the wall-time idle advance (which counts from
    the newest event, see test_an_older_event_keeps_its_partition_active_but_not_the_idle_clock)
    does not kick in and the value is the plain partition-0 maximum minus lateness."""
    wm = Watermark(LATE, idle_advance=True, partitions=2, idle_timeout_ms=TIMEOUT)
    wm.observe(0, 1_000_000, 0)
    assert wm.started_wall_ms == 0
    wm.observe(0, 1_000_001, TIMEOUT)  # partition 0 active, partition 1 never heard
    assert wm.current(TIMEOUT) == NO_TIME  # partition 1 silent exactly TIMEOUT: holds
    assert wm.current(TIMEOUT + 1) == 1_000_001 - LATE  # silent > TIMEOUT: skipped
