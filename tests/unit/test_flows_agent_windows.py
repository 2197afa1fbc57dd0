"""flows.agents.windows.AgentWindowAggregator: per-agent tumbling windows over facts.

Fact values are integer milliseconds (durations) or integer ratings (CSAT); windows sum
them as integers and rows report seconds (``sum_ms / 1000``), so rows are compared
exactly, never approximately.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.agents.facts import AgentFact, FactKind
from flows.agents.windows import WINDOWS_MS, AgentWindowAggregator, window_row_id
from flows.core.timeutil import from_ms, to_ms
from schemas.ids import stable_id
from schemas.results import AgentWindow, LateEvent, WindowName
from tests.unit.helpers import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, T0_MS, fact

LATE = 60_000
NOW = T0_MS + 10 * DAY_MS  # wall clock; idle advance is off unless a test turns it on

A, R, F, C = FactKind.ASSIGNED, FactKind.RESOLVED, FactKind.FIRST_RESPONSE, FactKind.CSAT
HT, RT = FactKind.HANDLE_TIME, FactKind.RESPONSE_TIME  # durations joined after the count

Key = tuple[str, str, WindowName, int]  # tenant, agent, window, start_ms


def agg() -> AgentWindowAggregator:
    return AgentWindowAggregator()


def key(row: AgentWindow) -> Key:
    return (row.tenant_id, row.agent_id, row.window, to_ms(row.window_start))


def by_key(rows: list[AgentWindow]) -> dict[Key, AgentWindow]:
    out = {key(r): r for r in rows}
    assert len(out) == len(rows), "one row per window"
    return out


def metrics(row: AgentWindow) -> dict[str, float]:
    return row.model_dump(
        include={
            "tickets_assigned",
            "tickets_resolved",
            "handle_time_sum_s",
            "handle_time_count",
            "first_response_sum_s",
            "first_response_count",
            "csat_sum",
            "csat_count",
            "low_csat_count",
        }
    )


def m(**kw: float) -> dict[str, float]:
    base: dict[str, float] = {
        "tickets_assigned": 0,
        "tickets_resolved": 0,
        "handle_time_sum_s": 0.0,
        "handle_time_count": 0,
        "first_response_sum_s": 0.0,
        "first_response_count": 0,
        "csat_sum": 0,
        "csat_count": 0,
        "low_csat_count": 0,
    }
    base.update(kw)
    return base


# ---- exact metrics for a scripted scenario -------------------------------------------

S = SECOND_MS
SCENARIO = [
    fact("a1", A, T0_MS + 10 * S),
    fact("a1", R, T0_MS + 250 * S, 240_000),  # handle time 240 s, in ms
    fact("a1", F, T0_MS + 299_999, 30_500),  # last ms of the first 5 minutes
    fact("a1", C, T0_MS + 300 * S, 2),  # exactly on a 5m boundary: the next window
    fact("a1", C, T0_MS + 3_599 * S, 5),
    fact("a1", R, T0_MS + 3_600 * S, None),  # exactly on the hour, no handle time
    fact("a1", C, T0_MS + 3_700 * S, 1),
    fact("a2", A, T0_MS + 20 * S),  # another agent
    fact("a1", A, T0_MS + 30 * S, tenant="t2"),  # same agent id, another tenant
]

M5, H1, D1 = 5 * MINUTE_MS, HOUR_MS, DAY_MS
EXPECTED: dict[Key, tuple[int, dict[str, float]]] = {
    ("t1", "a1", "5m", T0_MS): (
        3,
        m(
            tickets_assigned=1,
            tickets_resolved=1,
            handle_time_sum_s=240.0,
            handle_time_count=1,
            first_response_sum_s=30.5,
            first_response_count=1,
        ),
    ),
    ("t1", "a1", "5m", T0_MS + M5): (1, m(csat_sum=2, csat_count=1, low_csat_count=1)),
    ("t1", "a1", "5m", T0_MS + 11 * M5): (1, m(csat_sum=5, csat_count=1)),
    ("t1", "a1", "5m", T0_MS + 12 * M5): (
        2,
        m(tickets_resolved=1, csat_sum=1, csat_count=1, low_csat_count=1),
    ),
    ("t1", "a1", "1h", T0_MS): (
        5,
        m(
            tickets_assigned=1,
            tickets_resolved=1,
            handle_time_sum_s=240.0,
            handle_time_count=1,
            first_response_sum_s=30.5,
            first_response_count=1,
            csat_sum=7,
            csat_count=2,
            low_csat_count=1,
        ),
    ),
    ("t1", "a1", "1h", T0_MS + H1): (
        2,
        m(tickets_resolved=1, csat_sum=1, csat_count=1, low_csat_count=1),
    ),
    ("t1", "a1", "1d", T0_MS): (
        7,
        m(
            tickets_assigned=1,
            tickets_resolved=2,
            handle_time_sum_s=240.0,
            handle_time_count=1,
            first_response_sum_s=30.5,
            first_response_count=1,
            csat_sum=8,
            csat_count=3,
            low_csat_count=2,
        ),
    ),
    ("t1", "a2", "5m", T0_MS): (1, m(tickets_assigned=1)),
    ("t1", "a2", "1h", T0_MS): (1, m(tickets_assigned=1)),
    ("t1", "a2", "1d", T0_MS): (1, m(tickets_assigned=1)),
    ("t2", "a1", "5m", T0_MS): (1, m(tickets_assigned=1)),
    ("t2", "a1", "1h", T0_MS): (1, m(tickets_assigned=1)),
    ("t2", "a1", "1d", T0_MS): (1, m(tickets_assigned=1)),
}


def test_scripted_scenario_exact_metrics_in_all_windows() -> None:
    ag = agg()
    assert ag.add_batch(list(SCENARIO), NOW) == []
    rows = by_key(ag.flush_all())
    assert set(rows) == set(EXPECTED)
    for k, (events, expected) in EXPECTED.items():
        row = rows[k]
        assert metrics(row) == expected, k
        assert row.version == events * 2 + 1, k
        assert row.is_final is True


def test_scenario_averages() -> None:
    ag = agg()
    ag.add_batch(list(SCENARIO), NOW)
    rows = by_key(ag.flush_all())
    hour = rows[("t1", "a1", "1h", T0_MS)]
    assert hour.avg_handle_time_s == 240.0
    assert hour.avg_first_response_s == 30.5
    assert hour.csat_avg == 3.5
    nxt = rows[("t1", "a1", "1h", T0_MS + H1)]
    assert nxt.avg_handle_time_s is None  # a resolution without handle time
    assert nxt.avg_first_response_s is None


def test_sums_are_exact_integer_ms_over_1000() -> None:
    """0.1 s + 0.2 s summed as float seconds is 0.30000000000000004; the integer ms sum
    gives exactly 0.3, and the same in any order."""
    facts = [
        fact("a1", R, T0_MS + 1, 100),
        fact("a1", R, T0_MS + 2, 200),
        fact("a1", F, T0_MS + 3, 100),
        fact("a1", F, T0_MS + 4, 200),
        fact("a1", F, T0_MS + 5, 1),
        fact("a1", R, T0_MS + 6, 10 * DAY_MS + 7),  # large values stay exact too
    ]
    for batch in (facts, facts[::-1]):
        ag = agg()
        ag.add_batch(batch, NOW)
        row = by_key(ag.flush_all())[("t1", "a1", "5m", T0_MS)]
        assert row.handle_time_sum_s == (100 + 200 + 10 * DAY_MS + 7) / 1000
        assert row.handle_time_sum_s == 864_000.307
        assert row.first_response_sum_s == 301 / 1000 == 0.301
        assert (row.handle_time_count, row.first_response_count) == (3, 3)
    ag = agg()
    ag.add_batch(facts[:2], NOW)
    assert by_key(ag.flush_all())[("t1", "a1", "1h", T0_MS)].handle_time_sum_s == 0.3


@pytest.mark.parametrize("name", ["5m", "1h", "1d"])
def test_window_bounds_are_utc_aligned(name: WindowName) -> None:
    ag = agg()
    ts = T0_MS + 2 * DAY_MS + 13 * HOUR_MS + 47 * MINUTE_MS + 31_250
    ag.add_batch([fact("a1", A, ts)], NOW)
    [row] = [r for r in ag.flush_all() if r.window == name]
    size = WINDOWS_MS[name]
    assert row.window_end - row.window_start == timedelta(milliseconds=size)
    start = row.window_start
    assert start.utcoffset() == timedelta(0)
    assert to_ms(start) % size == 0
    assert to_ms(start) <= ts < to_ms(row.window_end)
    expected = {"5m": (13, 45), "1h": (13, 0), "1d": (0, 0)}[name]
    assert (start.day, start.hour, start.minute, start.second) == (8, *expected, 0)


# ---- closing on the tenant's watermark ------------------------------------------------


def test_close_due_emits_finals_once_the_watermark_passes_the_end() -> None:
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS + 10 * S), fact("a1", C, T0_MS + 20 * S, 4)], NOW)
    assert ag.close_due("t1", T0_MS + M5 - 1) == []  # one ms before the end: not yet
    closed = ag.close_due("t1", T0_MS + M5)  # exactly the window end: closes
    assert [(r.agent_id, r.window) for r in closed] == [("a1", "5m")]
    [row] = closed
    assert row.is_final is True
    assert row.version % 2 == 1
    assert row.version == 2 * 2 + 1
    assert (row.tickets_assigned, row.csat_sum, row.csat_count) == (1, 4, 1)
    assert ag.close_due("t1", T0_MS + M5) == []  # once only
    assert ("t1", "a1", "5m", T0_MS) not in ag.windows
    assert ("t1", "a1", "1h", T0_MS) in ag.windows


def test_close_due_closes_every_due_window_in_end_order() -> None:
    ag = agg()
    facts = [fact(f"a{i}", A, T0_MS + i * M5) for i in range(5)]
    ag.add_batch(facts, NOW)
    closed = ag.close_due("t1", T0_MS + DAY_MS)
    ends = [to_ms(r.window_end) for r in closed]
    assert ends == sorted(ends)
    assert {(r.agent_id, r.window) for r in closed} == {
        (f"a{i}", w) for i in range(5) for w in ("5m", "1h", "1d")
    }
    assert all(r.is_final and r.version == 3 for r in closed)


def test_a_tenants_watermark_closes_only_its_own_windows() -> None:
    """Isolation: tenant t2's clock (far ahead) never closes t1's windows."""
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS), fact("a1", A, T0_MS, tenant="t2")], NOW)
    closed = ag.close_due("t2", T0_MS + 30 * DAY_MS)
    assert {r.tenant_id for r in closed} == {"t2"}
    assert len(closed) == 3
    assert ag.add_batch([fact("a1", A, T0_MS + S)], NOW) == []  # t1 still on time
    assert {r.tenant_id for r in ag.flush_all()} == {"t1"}


# ---- provisional rows -------------------------------------------------------------------


def test_provisional_emits_changed_open_windows_once() -> None:
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS), fact("a1", A, T0_MS + S), fact("a2", A, T0_MS)], NOW)
    first = by_key(ag.provisional())
    assert set(first) == {
        (t, a, w, T0_MS) for t, a in (("t1", "a1"), ("t1", "a2")) for w in ("5m", "1h", "1d")
    }
    assert all(not r.is_final and r.version % 2 == 0 for r in first.values())
    assert first[("t1", "a1", "5m", T0_MS)].version == 4
    assert first[("t1", "a2", "5m", T0_MS)].version == 2
    assert ag.provisional() == []

    ag.add_batch([fact("a2", C, T0_MS + 6 * MINUTE_MS, 3)], NOW)
    second = by_key(ag.provisional())
    assert set(second) == {
        ("t1", "a2", "5m", T0_MS + M5),
        ("t1", "a2", "1h", T0_MS),
        ("t1", "a2", "1d", T0_MS),
    }
    assert second[("t1", "a2", "1h", T0_MS)].version == 4
    assert second[("t1", "a2", "5m", T0_MS + M5)].version == 2
    assert ag.provisional() == []


def test_provisional_skips_windows_closed_meanwhile() -> None:
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS), fact("a1", A, T0_MS + M5)], NOW)
    closed = ag.close_due("t1", T0_MS + M5)
    assert [(r.window, to_ms(r.window_start)) for r in closed] == [("5m", T0_MS)]
    live = by_key(ag.provisional())
    assert ("t1", "a1", "5m", T0_MS) not in live
    assert set(live) == {
        ("t1", "a1", "5m", T0_MS + M5),
        ("t1", "a1", "1h", T0_MS),
        ("t1", "a1", "1d", T0_MS),
    }


# ---- late facts --------------------------------------------------------------------------


def test_facts_with_a_late_verdict_are_recorded_not_counted() -> None:
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS + HOUR_MS)], NOW)
    ag.provisional()
    bound = T0_MS + HOUR_MS - LATE
    behind = replace(fact("a1", C, bound - 1, 1, tenant="t1"), late_bound_ms=bound)
    on_time = fact("a1", A, bound - 1)  # no verdict: counted, however old it looks
    late = ag.add_batch([behind, on_time], NOW + 123)
    assert late == [
        LateEvent(
            late_id=stable_id("late", "agent_performance", behind.event_id, int(C)),
            flow="agent_performance",
            event_id=behind.event_id,
            tenant_id="t1",
            event_type="csat.received",
            occurred_at=from_ms(bound - 1),
            watermark=from_ms(bound),
            recorded_at=from_ms(NOW + 123),
        )
    ]
    rows = by_key(ag.flush_all())
    assert all(r.csat_count == 0 for r in rows.values())
    assert rows[("t1", "a1", "1d", T0_MS)].tickets_assigned == 2


def test_a_fact_behind_the_applied_watermark_is_late() -> None:
    """Live mode can idle a tenant past a partition: what arrives behind it is late."""
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS)], NOW)
    ag.close_due("t1", T0_MS + HOUR_MS)
    [late] = ag.add_batch([fact("a1", A, T0_MS + HOUR_MS - 1)], NOW)
    assert late.watermark == from_ms(T0_MS + HOUR_MS)
    assert ag.add_batch([fact("a1", A, T0_MS + HOUR_MS)], NOW) == []


def test_late_id_is_deterministic_per_fact_and_flow() -> None:
    f = replace(fact("a1", C, T0_MS, 2), late_bound_ms=T0_MS + 1)
    ids = []
    for flow in ("agent_performance", "agent_performance", "other"):
        ag = AgentWindowAggregator(flow=flow)
        [late] = ag.add_batch([f], NOW)
        assert late.flow == flow
        ids.append(late.late_id)
    assert ids[0] == ids[1] != ids[2]


def test_late_facts_do_not_dirty_windows() -> None:
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS + HOUR_MS)], NOW)
    ag.provisional()
    late = ag.add_batch([replace(fact("a1", A, T0_MS), late_bound_ms=T0_MS + 1)], NOW)
    assert len(late) == 1
    assert ag.provisional() == []


# ---- flush_all and versions ---------------------------------------------------------------


def test_flush_all_emits_all_open_windows_as_final_and_keeps_state() -> None:
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS), fact("a1", A, T0_MS + S)], NOW)
    finals = by_key(ag.flush_all())
    assert len(finals) == 3
    assert all(r.is_final and r.version == 5 for r in finals.values())
    assert ag.provisional() == []  # flushed rows are not dirty any more
    assert len(ag.windows) == 3  # state kept

    ag.add_batch([fact("a1", R, T0_MS + 2 * S, 60_000)], NOW)
    live = by_key(ag.provisional())
    again = by_key(ag.flush_all())
    for k, old in finals.items():
        assert live[k].version == 6 > old.version
        assert again[k].version == 7 > live[k].version
        assert again[k].row_id == old.row_id
        assert again[k].tickets_resolved == 1
        assert again[k].tickets_assigned == 2


def test_closing_after_flush_all_repeats_the_same_final() -> None:
    ag = agg()
    ag.add_batch([fact("a1", A, T0_MS)], NOW)
    flushed = by_key(ag.flush_all())
    closed = by_key([r for r in ag.close_due("t1", T0_MS + 2 * DAY_MS) if r.agent_id == "a1"])
    assert closed == flushed


def test_row_id_is_deterministic() -> None:
    rows = []
    for _ in range(2):
        ag = agg()
        ag.add_batch([fact("a1", A, T0_MS + 42 * S)], NOW)
        rows.append(by_key(ag.flush_all()))
    assert {k: r.row_id for k, r in rows[0].items()} == {k: r.row_id for k, r in rows[1].items()}
    for (tenant, agent, name, start), row in rows[0].items():
        assert row.row_id == window_row_id(tenant, agent, name, from_ms(start))
    assert len({r.row_id for r in rows[0].values()}) == 3
    t0 = from_ms(T0_MS)
    distinct = {
        window_row_id("t1", "a1", "5m", t0),
        window_row_id("t2", "a1", "5m", t0),
        window_row_id("t1", "a2", "5m", t0),
        window_row_id("t1", "a1", "1h", t0),
        window_row_id("t1", "a1", "5m", from_ms(T0_MS + M5)),
    }
    assert len(distinct) == 5


# ---- properties ---------------------------------------------------------------------------


@st.composite
def _facts(
    draw: st.DrawFn,
    tenants: tuple[str, ...] = ("t1", "t2"),
    agents: tuple[str, ...] = ("a1", "a2", "a3"),
    kinds: tuple[FactKind, ...] = tuple(FactKind),
) -> AgentFact:
    """A fact as the tracker emits it: ms durations for R / F / HT / RT, a 1..5 rating
    for C."""
    kind = draw(st.sampled_from(kinds))
    value: int | None = None
    if kind in (R, F, HT, RT):
        # tenths of a second too: as float seconds their sums would depend on the order
        value = draw(
            st.none() | st.integers(0, 10 * DAY_MS) | st.sampled_from([100, 200, 300, 700])
        )
    elif kind is C:
        value = draw(st.none() | st.integers(1, 5))
    offset = draw(st.integers(0, 2 * DAY_MS))
    return fact(
        draw(st.sampled_from(agents)),
        kind,
        T0_MS + offset,
        value,
        tenant=draw(st.sampled_from(tenants)),
        partition=offset % 3,
    )


FACTS = st.lists(_facts(), max_size=40)
# one agent, durations only: many values share a window, so summation order matters
DENSE_DURATIONS = st.lists(_facts(("t1",), ("a1",), (R, F)), min_size=3, max_size=30)


def _recompute(
    facts: list[AgentFact], tenant: str, agent: str, start: int, end: int
) -> dict[str, Any]:
    inside = [
        f for f in facts if (f.tenant_id, f.agent_id) == (tenant, agent) and start <= f.at_ms < end
    ]
    res = [f for f in inside if f.kind is R]
    fr = [f for f in inside if f.kind in (F, RT) and f.value is not None]
    cs = [f for f in inside if f.kind is C and f.value is not None]
    ht = [f for f in inside if f.kind in (R, HT) and f.value is not None]
    return {
        "events": len(inside),
        "metrics": m(
            tickets_assigned=sum(f.kind is A for f in inside),
            tickets_resolved=len(res),
            # integer ms summed exactly, then one division: what the row must report
            handle_time_sum_s=sum(f.value for f in ht) / 1000,  # type: ignore[misc]
            handle_time_count=len(ht),
            first_response_sum_s=sum(f.value for f in fr) / 1000,  # type: ignore[misc]
            first_response_count=len(fr),
            csat_sum=sum(f.value for f in cs),  # type: ignore[misc]
            csat_count=len(cs),
            low_csat_count=sum(f.value <= 2 for f in cs),  # type: ignore[operator]
        ),
    }


@settings(max_examples=150)
@given(FACTS, st.randoms(use_true_random=False))
def test_one_shuffled_batch_then_flush_matches_a_recomputation(
    facts: list[AgentFact], rnd: random.Random
) -> None:
    shuffled = list(facts)
    rnd.shuffle(shuffled)
    ag = agg()
    assert ag.add_batch(shuffled, NOW) == []
    rows = by_key(ag.flush_all())
    expected_keys = {
        (f.tenant_id, f.agent_id, name, f.at_ms - f.at_ms % size)
        for f in facts
        for name, size in WINDOWS_MS.items()
    }
    assert set(rows) == expected_keys
    for (tenant, agent, name, start), row in rows.items():
        end = start + WINDOWS_MS[name]
        assert to_ms(row.window_end) == end
        want = _recompute(facts, tenant, agent, start, end)
        assert metrics(row) == want["metrics"]  # exact: integer sums, one division
        assert row.version == 2 * want["events"] + 1
        assert row.is_final


@settings(max_examples=100)
@given(FACTS | DENSE_DURATIONS, st.randoms(use_true_random=False))
def test_any_batching_and_order_gives_bit_identical_rows(
    facts: list[AgentFact], rnd: random.Random
) -> None:
    """Replays that batch and order the same facts differently produce identical rows
    (the reason values are integers: float sums would depend on the order)."""
    one = agg()
    assert one.add_batch(list(facts), NOW) == []
    shuffled = list(facts)
    rnd.shuffle(shuffled)
    cuts = sorted(rnd.sample(range(len(shuffled) + 1), k=min(3, len(shuffled) + 1)))
    many = agg()
    for lo, hi in itertools.pairwise([0, *cuts, len(shuffled)]):
        assert many.add_batch(shuffled[lo:hi], NOW) == []
    assert by_key(one.flush_all()) == by_key(many.flush_all())


@given(
    st.lists(
        st.tuples(st.sampled_from(list(FactKind)), st.integers(0, M5 - 1)),
        min_size=1,
        max_size=25,
    )
)
def test_versions_strictly_increase_as_facts_arrive(steps: list[tuple[FactKind, int]]) -> None:
    ag = agg()  # nothing in this one 5m window is ever late
    last: dict[str, int] = defaultdict(lambda: -1)
    for i, (kind, offset) in enumerate(steps):
        assert ag.add_batch([fact("a1", kind, T0_MS + offset, i % 5 + 1)], NOW) == []
        live = ag.provisional()
        assert len(live) == 3
        for row in live:
            assert not row.is_final
            assert row.version % 2 == 0
            assert row.version > last[row.window]
            last[row.window] = row.version
        if i % 4 == 0:
            for row in ag.flush_all():
                assert row.is_final
                assert row.version % 2 == 1
                assert row.version > last[row.window]
                last[row.window] = row.version


def test_a_duration_joined_later_completes_its_counted_fact_without_counting_it_again() -> None:
    """A resolution (first response) counted before its assignment (creation) arrived
    gets its duration from a HANDLE_TIME (RESPONSE_TIME) fact at its own time."""
    a = agg()
    for f in (
        fact("ag-1", R, T0_MS + MINUTE_MS),
        fact("ag-1", F, T0_MS + 2 * MINUTE_MS),
        fact("ag-1", FactKind.HANDLE_TIME, T0_MS + MINUTE_MS, 40 * SECOND_MS),
        fact("ag-1", FactKind.RESPONSE_TIME, T0_MS + 2 * MINUTE_MS, 90 * SECOND_MS),
    ):
        assert a.add(f, NOW) is None
    [row] = [r for r in a.close_due("t1", T0_MS + 5 * MINUTE_MS) if r.window == "5m"]
    assert metrics(row) == m(
        tickets_resolved=1,
        handle_time_sum_s=40.0,
        handle_time_count=1,
        first_response_sum_s=90.0,
        first_response_count=1,
    )
    assert row.version == 4 * 2 + 1  # each fact changed the row
