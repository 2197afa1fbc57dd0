"""flows.core.clock: per-partition lateness verdicts and per-tenant watermarks."""

from __future__ import annotations

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from flows.core.clock import PartitionClock, Progress, TenantClocks, Tick
from flows.core.timeutil import from_ms
from schemas.transport import Accepted
from tests.unit.helpers import T0_MS, make_event

LATE = 60_000
WALL = 5_000_000_000


def acc(tenant: str, at_ms: int, partition: int = 0) -> Accepted:
    ev = make_event(
        "ticket.reopened", {"ticket_id": "tk"}, occurred_at=from_ms(at_ms), tenant=tenant
    )
    return Accepted(ev, partition, 0, from_ms(WALL))


def verdicts(clock: PartitionClock, items: list[Accepted]) -> list[int | None]:
    out, _ = clock.judge(items, WALL)
    return [a.late_bound_ms for a in out]


def test_late_is_more_than_the_lateness_behind_the_tenants_newest_on_the_partition() -> None:
    clock = PartitionClock(LATE)
    got = verdicts(
        clock,
        [acc("a", T0_MS + 10 * LATE), acc("a", T0_MS + 9 * LATE), acc("a", T0_MS + 9 * LATE - 1)],
    )
    assert got == [None, None, T0_MS + 9 * LATE]


def test_another_tenants_clock_never_makes_an_event_late() -> None:
    """Issue 9 case 3: tenant b stamped 22 h ahead does not touch tenant a."""
    clock = PartitionClock(LATE)
    ahead = T0_MS + int(timedelta(hours=22).total_seconds() * 1000)
    assert verdicts(clock, [acc("b", ahead), acc("a", T0_MS), acc("a", T0_MS + 1)]) == [
        None,
        None,
        None,
    ]


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 10 * LATE)), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_verdicts_do_not_depend_on_batch_boundaries(
    steps: list[tuple[str, int]], rnd: random.Random
) -> None:
    """Issue 9 case 6: the same partition cut into different batches, same verdicts."""
    items = [acc(t, T0_MS + ms) for t, ms in steps]
    whole = verdicts(PartitionClock(LATE), items)
    clock = PartitionClock(LATE)
    cut: list[int | None] = []
    i = 0
    while i < len(items):
        n = rnd.randint(1, 5)
        cut += verdicts(clock, items[i : i + n])
        i += n
    assert cut == whole


def test_progress_reports_each_moved_tenant_once_per_batch() -> None:
    clock = PartitionClock(LATE, partition=2)
    _, progress = clock.judge([acc("a", T0_MS), acc("b", T0_MS + 5), acc("a", T0_MS + 9)], WALL)
    assert progress == [Progress("a", 2, T0_MS + 9, WALL), Progress("b", 2, T0_MS + 5, WALL)]
    _, again = clock.judge([acc("a", T0_MS)], WALL)
    assert again == []  # nothing newer


def test_tenant_watermark_is_min_over_partitions_minus_lateness() -> None:
    clocks = TenantClocks(LATE, partitions=2)
    assert clocks.observe([Progress("a", 0, T0_MS + 10 * LATE, WALL)], WALL) == []
    ticks = clocks.observe([Progress("a", 1, T0_MS + 3 * LATE, WALL)], WALL)
    assert ticks == [Tick("a", T0_MS + 2 * LATE)]
    assert clocks.observe([Progress("a", 1, T0_MS + 3 * LATE, WALL)], WALL) == []  # no advance


def test_one_tenant_never_moves_another_tenants_watermark() -> None:
    clocks = TenantClocks(LATE, partitions=1)
    clocks.observe([Progress("a", 0, T0_MS, WALL)], WALL)
    ticks = clocks.observe([Progress("b", 0, T0_MS + 10**9, WALL)], WALL)
    assert ticks == [Tick("b", T0_MS + 10**9 - LATE)]


def test_end_of_input_releases_everything_but_the_lateness_tail() -> None:
    clocks = TenantClocks(LATE, partitions=3)  # partitions 1 and 2 never carry tenant a
    assert clocks.observe([Progress("a", 0, T0_MS + 5 * LATE, WALL)], WALL) == []
    assert clocks.final() == [Tick("a", T0_MS + 4 * LATE)]
    assert clocks.final() == []


def test_live_mode_idles_a_silent_tenant_forward() -> None:
    clocks = TenantClocks(LATE, partitions=2, idle_advance=True, idle_timeout_ms=30_000)
    clocks.observe([Progress("a", 0, T0_MS, WALL)], WALL)
    assert clocks.idle(WALL + 30_000) == []  # partition 1 not idle long enough
    [tick] = clocks.idle(WALL + 30_001)  # partition 1 idle; then wall time moves a on
    assert tick.tenant_id == "a"
    assert tick.watermark_ms >= T0_MS - LATE
    [later] = clocks.idle(WALL + 120_000)
    assert later.watermark_ms > tick.watermark_ms


def test_bounded_replays_never_idle() -> None:
    clocks = TenantClocks(LATE, partitions=2, idle_advance=False)
    clocks.observe([Progress("a", 0, T0_MS, WALL)], WALL)
    assert clocks.idle(WALL + 10**9) == []
