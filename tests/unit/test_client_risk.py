"""flows.risk.client_risk: events -> risk signals -> decayed client scores, rises -> alerts."""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.core.timeutil import from_ms
from flows.risk.client_risk import (
    ACTIVITY,
    ClientRiskTracker,
    RiskSignal,
    TicketClients,
    risk_alert,
    signals_from_event,
)
from schemas.events import PAYLOADS, Event
from schemas.ids import stable_id
from schemas.results import Alert
from schemas.risk import COUNT_FACTORS, RISK_LEVELS, ClientRisk, RiskFactor, RiskModel
from tests.unit.helpers import (
    DAY_MS,
    MINIMAL_PAYLOADS,
    T0_MS,
    at,
    csat,
    make_event,
    ticket_created,
    uid,
)

FIRED = datetime(2025, 1, 6, 12, tzinfo=UTC)
MODEL = RiskModel()
HALF_LIFE_MS = 14 * DAY_MS


def logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def sig(
    factor: str,
    at_ms: int = T0_MS,
    *,
    value: float = 1.0,
    client: str = "cl-1",
    tenant: str = "t1",
    n: object = None,
) -> RiskSignal:
    eid = uid("signal", tenant, client, factor, at_ms, value, n)
    return RiskSignal(tenant, client, factor, at_ms, value, eid)


def feed(tracker: ClientRiskTracker, signals: list[RiskSignal]) -> ClientRisk | None:
    last = None
    for s in signals:
        row = tracker.on_signal(s)
        last = row if row is not None else last
    return last


def complaint(severity: str, when_s: float = 0, *, client: str = "cl-1", n: int = 1) -> Event:
    payload = dict(
        MINIMAL_PAYLOADS["complaint.created"],
        complaint_id=f"cp-{n}",
        client_id=client,
        severity=severity,
    )
    return make_event("complaint.created", payload, occurred_at=at(when_s))


def reopened(ticket: str, when_s: float = 0, tenant: str = "t1") -> Event:
    return make_event(
        "ticket.reopened", {"ticket_id": ticket}, occurred_at=at(when_s), tenant=tenant
    )


def created(ticket: str, client: str, when_s: float = 0, tenant: str = "t1") -> Event:
    payload = dict(MINIMAL_PAYLOADS["ticket.created"], ticket_id=ticket, client_id=client)
    return make_event("ticket.created", payload, occurred_at=at(when_s), tenant=tenant)


# ---- events -> signals ------------------------------------------------------------------


@pytest.mark.parametrize("severity", ["low", "medium", "high", "critical"])
def test_complaint_created_maps_to_its_severity(severity: str) -> None:
    ev = complaint(severity, 30, client="cl-7")
    assert signals_from_event(ev, {}) == [
        RiskSignal("t1", "cl-7", f"complaints_{severity}", T0_MS + 30_000, 1.0, ev.event_id)
    ]


def test_escalation_health_and_low_csat() -> None:
    esc = make_event("complaint.escalated")
    health = make_event("client.health_updated")  # cl-1, 72.5
    assert signals_from_event(esc, {}) == [
        RiskSignal("t1", "cl-1", "escalations", T0_MS, 1.0, esc.event_id)
    ]
    assert signals_from_event(health, {}) == [
        RiskSignal("t1", "cl-1", "health", T0_MS, 72.5, health.event_id)
    ]
    for rating in (1, 2):
        ev = csat("tk-1", "ag-1", rating, at(0))
        assert signals_from_event(ev, {}) == [
            RiskSignal("t1", "cl-1", "low_csat", T0_MS, 1.0, ev.event_id)
        ]
    for rating in (3, 4, 5):
        ev = csat("tk-1", "ag-1", rating, at(0))
        assert signals_from_event(ev, {}) == [
            RiskSignal("t1", "cl-1", ACTIVITY, T0_MS, 0.0, ev.event_id)
        ]


@pytest.mark.parametrize(
    "event_type", ["ticket.created", "service.requested", "complaint.resolved"]
)
def test_client_activity_is_a_signal_that_only_makes_the_client_known(event_type: str) -> None:
    ev = make_event(event_type)
    [signal] = signals_from_event(ev, {})
    assert (signal.factor, signal.value, signal.client_id) == (ACTIVITY, 0.0, "cl-1")
    tracker = ClientRiskTracker(RiskModel())
    row = tracker.on_signal(signal)
    assert row is not None
    assert (row.risk_level, row.version, row.factors) == ("low", 1, [])
    assert tracker.on_signal(replace(signal, at_ms=signal.at_ms + 1)) is None  # known now


def test_a_calm_client_is_scored_low_not_missing() -> None:
    """Issue 9 case 7: tickets resolved on time and CSAT 5 give a low-risk row."""
    tracker = ClientRiskTracker(RiskModel())
    rows = []
    for ev in (make_event("ticket.created"), csat("tk-1", "ag-1", 5, at(60))):
        for s in signals_from_event(ev, {}):
            rows.append(tracker.on_signal(s))
    [row, none] = rows
    assert none is None
    assert row is not None
    assert row.risk_level == "low"
    assert row.churn_probability == round(RiskModel().probability(RiskModel().bias), 6)


def test_reopening_needs_the_ticket_client() -> None:
    ev = reopened("tk-9", 5)
    assert signals_from_event(ev, {}) == []
    assert signals_from_event(ev, {("t2", "tk-9"): "cl-x"}) == []  # other tenant
    assert signals_from_event(ev, {("t1", "tk-9"): "cl-4"}) == [
        RiskSignal("t1", "cl-4", "reopenings", T0_MS + 5000, 1.0, ev.event_id)
    ]


_SIGNAL_TYPES = {
    "ticket.created",
    "service.requested",
    "complaint.resolved",
    "complaint.created",
    "complaint.escalated",
    "client.health_updated",
    "csat.received",
    "ticket.reopened",
}


@pytest.mark.parametrize("event_type", sorted(set(PAYLOADS) - _SIGNAL_TYPES))
def test_other_events_carry_no_signal(event_type: str) -> None:
    assert signals_from_event(make_event(event_type), {("t1", "tk-1"): "cl-1"}) == []


def test_signal_rejects_unknown_factor() -> None:
    with pytest.raises(ValueError, match="known"):
        sig("complaints")


# ---- ticket -> client -------------------------------------------------------------------


def test_ticket_clients_maps_reopenings() -> None:
    tc = TicketClients()
    assert tc.on_event(created("tk-1", "cl-5")) == []
    ev = reopened("tk-1", 60)
    assert tc.on_event(ev) == []
    assert signals_from_event(ev, tc.clients) == [
        RiskSignal("t1", "cl-5", "reopenings", T0_MS + 60_000, 1.0, ev.event_id)
    ]


def test_reopening_before_creation_is_released_by_the_creation() -> None:
    tc = TicketClients()
    ev = reopened("tk-1", 60)
    assert tc.on_event(ev) == []
    assert signals_from_event(ev, tc.clients) == []
    released = tc.on_event(created("tk-1", "cl-5", 0))
    assert released == [RiskSignal("t1", "cl-5", "reopenings", T0_MS + 60_000, 1.0, ev.event_id)]
    assert tc.pending == {}
    assert tc.on_event(created("tk-1", "cl-5", 0)) == []  # released once


def test_ticket_clients_forget_after_retention() -> None:
    tc = TicketClients(retention_ms=DAY_MS)
    tc.on_event(created("tk-1", "cl-1", 0))
    tc.on_event(reopened("tk-orphan", 10))
    tc.on_event(created("tk-2", "cl-2", 86_400))  # exactly one day later: tk-1 kept
    assert ("t1", "tk-1") in tc.clients
    tc.on_event(created("tk-3", "cl-3", 86_400 + 11))
    assert set(tc.clients) == {("t1", "tk-2"), ("t1", "tk-3")}
    assert tc.pending == {}
    assert len(tc._expiry) == 2


def test_unrelated_events_do_not_touch_ticket_clients() -> None:
    tc = TicketClients()
    assert tc.on_event(make_event("complaint.created")) == []
    assert tc.clients == {}


# ---- tracker: hand-computed scores ---------------------------------------------------


def test_one_fresh_high_complaint() -> None:
    tracker = ClientRiskTracker()
    s = sig("complaints_high")
    row = tracker.on_signal(s)
    assert row == ClientRisk(
        risk_id=stable_id("client_risk", "t1", "cl-1", 1),
        tenant_id="t1",
        client_id="cl-1",
        version=1,
        scored_at=from_ms(T0_MS),
        churn_probability=round(logistic(-1.5), 6),
        risk_level="low",
        factors=[RiskFactor(name="complaints_high", contribution=1.5)],
        trigger_event_id=s.event_id,
    )


def test_older_signals_count_less_one_half_life_later() -> None:
    tracker = ClientRiskTracker()
    tracker.on_signal(sig("complaints_critical", T0_MS))
    row = tracker.on_signal(sig("complaints_low", T0_MS + HALF_LIFE_MS))
    assert row is not None
    # critical 2.5 / 2 + low 0.4 = 1.65; z = -1.35
    assert row.churn_probability == round(logistic(-1.35), 6)
    assert [(f.name, f.contribution) for f in row.factors] == [
        ("complaints_critical", 1.25),
        ("complaints_low", 0.4),
    ]
    assert row.version == 2
    assert row.scored_at == from_ms(T0_MS + HALF_LIFE_MS)


def test_signal_older_than_the_scoring_time_is_decayed_on_arrival() -> None:
    tracker = ClientRiskTracker()
    tracker.on_signal(sig("escalations", T0_MS + 2 * HALF_LIFE_MS))
    row = tracker.on_signal(sig("escalations", T0_MS))  # out of order: two half-lives old
    assert row is not None
    assert row.scored_at == from_ms(T0_MS + 2 * HALF_LIFE_MS)
    assert row.factors == [RiskFactor(name="escalations", contribution=1.5)]  # 1.2 * 1.25


def test_health_uses_the_latest_reading_without_decay() -> None:
    tracker = ClientRiskTracker()
    row = tracker.on_signal(sig("health", T0_MS, value=20.0))
    assert row is not None
    assert row.factors == [RiskFactor(name="health", contribution=2.4)]
    assert row.churn_probability == round(logistic(-0.6), 6)
    later = tracker.on_signal(sig("health", T0_MS + 10 * HALF_LIFE_MS, value=90.0))
    assert later is not None
    assert later.factors == [RiskFactor(name="health", contribution=0.3)]
    # an older reading arriving late changes nothing: no row, not counted
    assert tracker.on_signal(sig("health", T0_MS + 1, value=0.0)) is None
    assert tracker.on_signal(sig("health", T0_MS + 10 * HALF_LIFE_MS, value=90.0)) is None
    assert later.version == 2
    assert tracker.score_at("t1", "cl-1", T0_MS + 100 * HALF_LIFE_MS) == later.model_copy(
        update={"scored_at": from_ms(T0_MS + 100 * HALF_LIFE_MS)}
    )


def test_full_health_adds_nothing() -> None:
    row = ClientRiskTracker().on_signal(sig("health", value=100.0))
    assert row is not None
    assert row.factors == []
    assert row.churn_probability == round(logistic(-3.0), 6)


def test_clients_and_tenants_are_separate() -> None:
    tracker = ClientRiskTracker()
    tracker.on_signal(sig("complaints_critical", client="a"))
    tracker.on_signal(sig("complaints_critical", client="a", tenant="t2"))
    row = tracker.on_signal(sig("complaints_low", client="b"))
    assert row is not None
    assert row.version == 1
    assert [f.name for f in row.factors] == ["complaints_low"]


def test_score_at_decays_and_refuses_the_past() -> None:
    tracker = ClientRiskTracker()
    assert tracker.score_at("t1", "nobody", T0_MS) is None
    assert tracker.contributions_at("t1", "nobody", T0_MS) == {}
    s = sig("complaints_critical", T0_MS)
    tracker.on_signal(s)
    later = tracker.score_at("t1", "cl-1", T0_MS + HALF_LIFE_MS)
    assert later is not None
    assert later.factors == [RiskFactor(name="complaints_critical", contribution=1.25)]
    assert (later.version, later.trigger_event_id) == (1, s.event_id)
    with pytest.raises(ValueError, match="before"):
        tracker.score_at("t1", "cl-1", T0_MS - 1)


def test_custom_model_is_used() -> None:
    model = RiskModel(bias=0.0, half_life_days=1.0)
    tracker = ClientRiskTracker(model=model)
    tracker.on_signal(sig("sla_breaches", T0_MS))
    row = tracker.on_signal(sig("reopenings", T0_MS + DAY_MS))
    assert row is not None
    assert row.churn_probability == round(logistic(0.3 + 0.4), 6)


def test_tracker_pickles_mid_stream() -> None:
    a = ClientRiskTracker()
    signals = [sig(f, T0_MS + i * 3_600_000, n=i) for i, f in enumerate(COUNT_FACTORS)]
    feed(a, signals[:4])
    b = pickle.loads(pickle.dumps(a))
    assert feed(a, signals[4:]) == feed(b, signals[4:])


def test_what_if_on_a_tracked_client_matches_zero_weights() -> None:
    tracker = ClientRiskTracker()
    feed(tracker, [sig("complaints_high"), sig("escalations"), sig("health", value=50.0)])
    contrib = tracker.contributions_at("t1", "cl-1", T0_MS)
    what_if = MODEL.score(contrib, without=["escalations"])
    zero = ClientRiskTracker(model=RiskModel(escalation=0.0))
    row = feed(zero, [sig("complaints_high"), sig("escalations"), sig("health", value=50.0)])
    assert row is not None
    assert what_if.churn_probability == row.churn_probability == round(logistic(-3 + 1.5 + 1.5), 6)
    assert what_if.factors == row.factors


# ---- tracker: properties ----------------------------------------------------------------

DAYS_90 = 90 * DAY_MS
count_factors = st.sampled_from(COUNT_FACTORS)
times = st.integers(T0_MS, T0_MS + DAYS_90)


@st.composite
def signal_lists(draw: st.DrawFn, *, health: bool = True) -> list[RiskSignal]:
    n = draw(st.integers(0, 12))
    out = []
    for i in range(n):
        if health and draw(st.booleans()) and draw(st.booleans()):
            out.append(sig("health", draw(times), value=draw(st.floats(0, 100)), n=i))
        else:
            out.append(sig(draw(count_factors), draw(times), n=i))
    return out


def _scored(signals: list[RiskSignal], at_ms: int) -> ClientRisk:
    tracker = ClientRiskTracker()
    feed(tracker, signals)
    row = tracker.score_at("t1", "cl-1", at_ms)
    if row is None:  # no signal: the bias alone
        s = MODEL.score({})
        return ClientRisk(
            risk_id=uid("none"),
            tenant_id="t1",
            client_id="cl-1",
            version=1,
            scored_at=from_ms(at_ms),
            churn_probability=s.churn_probability,
            risk_level=s.risk_level,
            factors=[],
            trigger_event_id=uid("none"),
        )
    return row


def _assert_not_lower(worse: ClientRisk, base: ClientRisk) -> None:
    assert worse.churn_probability >= base.churn_probability
    assert RISK_LEVELS.index(worse.risk_level) >= RISK_LEVELS.index(base.risk_level)


@settings(max_examples=150, deadline=None)
@given(
    signal_lists(),
    count_factors,
    times,
    st.integers(0, 12),
    st.integers(0, DAYS_90),
)
def test_adding_a_signal_never_lowers_the_score(
    signals: list[RiskSignal], factor: str, t: int, pos: int, later: int
) -> None:
    extra = sig(factor, t, n="extra")
    with_extra = [*signals[:pos], extra, *signals[pos:]]
    at_ms = max(s.at_ms for s in with_extra) + later  # the same scoring time for both
    _assert_not_lower(_scored(with_extra, at_ms), _scored(signals, at_ms))


@settings(max_examples=100, deadline=None)
@given(signal_lists(health=False), st.floats(0, 100), times, st.integers(0, DAYS_90))
def test_a_first_health_reading_never_lowers_the_score(
    signals: list[RiskSignal], health: float, t: int, later: int
) -> None:
    with_health = [*signals, sig("health", t, value=health)]
    at_ms = max(s.at_ms for s in with_health) + later
    _assert_not_lower(_scored(with_health, at_ms), _scored(signals, at_ms))


_SEVERITIES = ("low", "medium", "high", "critical")


@settings(max_examples=150, deadline=None)
@given(
    signal_lists(),
    st.sampled_from(_SEVERITIES),
    st.sampled_from(_SEVERITIES),
    times,
    st.integers(0, 12),
)
def test_a_more_severe_complaint_never_lowers_the_score(
    signals: list[RiskSignal], a: str, b: str, t: int, pos: int
) -> None:
    milder, worse = sorted((a, b), key=_SEVERITIES.index)
    at_ms = max([t, *(s.at_ms for s in signals)])
    base = [*signals[:pos], sig(f"complaints_{milder}", t, n="c"), *signals[pos:]]
    bad = [*signals[:pos], sig(f"complaints_{worse}", t, n="c"), *signals[pos:]]
    _assert_not_lower(_scored(bad, at_ms), _scored(base, at_ms))


@settings(max_examples=150, deadline=None)
@given(signal_lists(health=False), st.floats(0, 100), st.floats(0, 100), times)
def test_a_lower_health_score_never_lowers_the_score(
    signals: list[RiskSignal], h1: float, h2: float, t: int
) -> None:
    lower, higher = sorted((h1, h2))
    at_ms = max([t, *(s.at_ms for s in signals)])
    worse = _scored([*signals, sig("health", t, value=lower)], at_ms)
    better = _scored([*signals, sig("health", t, value=higher)], at_ms)
    _assert_not_lower(worse, better)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(count_factors, times), min_size=1, max_size=12),
    st.integers(0, DAYS_90),
    st.integers(0, DAYS_90),
)
def test_decay_never_raises_the_score(pairs: list[tuple[str, int]], d1: int, d2: int) -> None:
    tracker = ClientRiskTracker()
    last = feed(tracker, [sig(f, t, n=i) for i, (f, t) in enumerate(pairs)])
    assert last is not None
    newest = max(t for _, t in pairs)
    sooner, later = sorted((d1, d2))
    a = tracker.score_at("t1", "cl-1", newest + sooner)
    b = tracker.score_at("t1", "cl-1", newest + later)
    assert a is not None
    assert b is not None
    _assert_not_lower(last, a)
    _assert_not_lower(a, b)
    assert sum(f.contribution for f in b.factors) <= sum(f.contribution for f in a.factors)


@settings(max_examples=150, deadline=None)
@given(signal_lists(), st.randoms(use_true_random=False))
def test_arrival_order_does_not_change_the_score(signals: list[RiskSignal], rnd: Any) -> None:
    if not signals:
        return
    shuffled = list(signals)
    rnd.shuffle(shuffled)
    at_ms = max(s.at_ms for s in signals)
    a, b = ClientRiskTracker(), ClientRiskTracker()
    feed(a, signals)
    feed(b, shuffled)
    ca = a.contributions_at("t1", "cl-1", at_ms)
    cb = b.contributions_at("t1", "cl-1", at_ms)
    assert ca.keys() == cb.keys()
    for f in ca:
        assert ca[f] == pytest.approx(cb[f], rel=1e-12, abs=1e-12)
    ra, rb = a.score_at("t1", "cl-1", at_ms), b.score_at("t1", "cl-1", at_ms)
    assert ra is not None
    assert rb is not None
    assert ra.churn_probability == pytest.approx(rb.churn_probability, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(signal_lists())
def test_every_row_is_a_probability_with_its_level(signals: list[RiskSignal]) -> None:
    tracker = ClientRiskTracker()
    versions = []
    for s in signals:
        row = tracker.on_signal(s)
        if row is None:
            continue
        versions.append(row.version)
        assert 0.0 <= row.churn_probability <= 1.0
        assert row.risk_level == MODEL.level(row.churn_probability)
        assert row.trigger_event_id == s.event_id
        assert [f.contribution for f in row.factors] == sorted(
            (f.contribution for f in row.factors), reverse=True
        )
    assert versions == list(range(1, len(versions) + 1))


# ---- alerts -------------------------------------------------------------------------------


def _risk(level: str, p: float, *, version: int = 3, trigger: object = "e") -> ClientRisk:
    return ClientRisk(
        risk_id=stable_id("client_risk", "t1", "cl-1", version),
        tenant_id="t1",
        client_id="cl-1",
        version=version,
        scored_at=from_ms(T0_MS),
        churn_probability=p,
        risk_level=level,
        factors=[
            RiskFactor(name="complaints_critical", contribution=2.5),
            RiskFactor(name="health", contribution=2.4),
            RiskFactor(name="escalations", contribution=1.2),
            RiskFactor(name="low_csat", contribution=0.7),
        ],
        trigger_event_id=uid(trigger),
    )


@pytest.mark.parametrize(
    ("prev", "new"),
    [
        ("low", "medium"),
        (None, "medium"),
        ("medium", "high"),
        ("low", "critical"),
        ("high", "critical"),
        (None, "critical"),
    ],
)
def test_rising_level_raises_an_alert(prev: Any, new: str) -> None:
    row = _risk(new, 0.9)
    alert = risk_alert(prev, row, FIRED)
    assert isinstance(alert, Alert)
    assert alert.kind == "client_risk"
    assert alert.severity == new
    assert (alert.subject_type, alert.subject_id, alert.tenant_id) == ("client", "cl-1", "t1")
    assert alert.alert_id == stable_id("client_risk", "t1", "cl-1", new, row.trigger_event_id)
    assert alert.event_time == row.scored_at
    assert alert.fired_at == FIRED
    assert "cl-1" in alert.title
    assert alert.details == {
        "churn_probability": 0.9,
        "previous_level": prev or "low",
        "risk_level": new,
        "top_factors": [
            {"name": "complaints_critical", "contribution": 2.5},
            {"name": "health", "contribution": 2.4},
            {"name": "escalations", "contribution": 1.2},
        ],
        "risk_id": str(row.risk_id),
        "version": 3,
        "trigger_event_id": str(row.trigger_event_id),
    }


@pytest.mark.parametrize(
    ("prev", "new"),
    [(None, "low"), ("low", "low"), ("medium", "medium"), ("critical", "high"), ("high", "low")],
)
def test_steady_or_falling_level_raises_nothing(prev: Any, new: str) -> None:
    assert risk_alert(prev, _risk(new, 0.5), FIRED) is None


def test_alert_id_is_deterministic() -> None:
    first = risk_alert("low", _risk("high", 0.6), FIRED)
    again = risk_alert("low", _risk("high", 0.6), datetime(2030, 1, 1, tzinfo=UTC))
    other = risk_alert("low", _risk("high", 0.6, trigger="f"), FIRED)
    assert first is not None
    assert again is not None
    assert other is not None
    assert first.alert_id == again.alert_id != other.alert_id


def test_tracker_levels_drive_alerts() -> None:
    tracker = ClientRiskTracker()
    alerts = []
    for i, factor in enumerate(["complaints_low", "complaints_critical", "escalations"]):
        prev = tracker.last_level("t1", "cl-1")
        row = tracker.on_signal(sig(factor, T0_MS + i, n=i))
        assert row is not None
        assert tracker.last_level("t1", "cl-1") == row.risk_level
        alert = risk_alert(prev, row, FIRED)
        if alert is not None:
            alerts.append((alert.details["previous_level"], alert.severity))
    # z: -2.6 (low), -0.1 (0.475, medium), 1.1 (0.750, critical)
    assert alerts == [("low", "medium"), ("medium", "critical")]
    assert tracker.last_level("t1", "other") is None


def test_ticket_created_helper_feeds_ticket_clients() -> None:
    tc = TicketClients()
    tc.on_event(ticket_created("tk-1", at(0)))
    assert tc.clients == {("t1", "tk-1"): "cl-1"}
