"""Demand anomalies (flows/demand/anomaly.py and their place in DemandTenant): a closed
hour outside the 95 % interval of the last forecast made before it started."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import numpy as np
import pytest

from bench.seasonal_demand import seasonal_series
from flows.demand.anomaly import DEMAND_METRIC, AnomalyRule, Expected, demand_anomaly
from flows.demand.forecast import HOUR_MS, MIN_WEEKLY_H
from flows.demand.tenant import DemandConfig, DemandOutput, DemandTenant
from schemas.demand import ForecastSnapshot
from schemas.ids import stable_id
from schemas.results import Alert
from tests.unit.test_demand import FIRED, H0, feed, of, ticket

EXP = Expected(predicted=10.0, lower_95=4.0, upper_95=18.0, generated_hour=H0 + 4)
HOUR = H0 + 6  # Monday 2025-01-06 06:00 UTC


PLAIN = AnomalyRule(min_excess=0.0)  # the plain 95 % rule


def _alert(actual: int, rule: AnomalyRule = PLAIN, exp: Expected = EXP) -> Alert | None:
    return demand_anomaly("t1", "queue", "billing", HOUR, actual, exp, rule, FIRED)


@pytest.mark.parametrize(
    ("actual", "severity"),
    [(10, None), (4, None), (18, None), (19, "medium"), (3, "medium"), (26, "high"), (0, "medium")],
    ids=["expected", "lower-bound", "upper-bound", "above", "below", "far-above", "zero"],
)
def test_an_hour_is_judged_against_the_closed_95_interval(
    actual: int, severity: str | None
) -> None:
    alert = _alert(actual)
    assert (alert.severity if alert else None) == severity


def test_far_below_is_high_and_a_floor_quietens_small_excesses() -> None:
    exp = Expected(predicted=30.0, lower_95=20.0, upper_95=42.0, generated_hour=H0)
    assert (a := _alert(9, exp=exp)) is not None
    assert a.severity == "high"
    floor = AnomalyRule()
    assert floor.min_excess == 2.0  # the default: see bench/anomaly.py for why
    assert _alert(20, floor) is None  # within 2 of the upper bound (18)
    assert _alert(21, floor) is not None  # 21 > 18 + 2
    assert _alert(1, floor) is not None
    assert _alert(2, floor) is None
    with pytest.raises(ValueError, match="min_excess"):
        AnomalyRule(min_excess=-1)


def test_the_alert_carries_the_evidence_and_an_id_from_its_cause() -> None:
    alert = _alert(25)
    assert alert is not None
    assert alert.kind == "anomaly"
    assert (alert.subject_type, alert.subject_id) == ("segment", "queue:billing")
    assert alert.details == {
        "metric_name": DEMAND_METRIC,
        "segment_type": "queue",
        "segment": "billing",
        "expected": 10.0,
        "expected_range": [4.0, 18.0],
        "actual_value": 25,
        "hour": "2025-01-06T06:00:00+00:00",
        "direction": "above",
        "forecast_generated_at": "2025-01-06T04:00:00+00:00",
    }
    assert alert.event_time == datetime(2025, 1, 6, 7, tzinfo=UTC)  # the hour closed
    # the cause, not the value or the firing time, is the id: a replay rewrites it
    again = demand_anomaly(
        "t1", "queue", "billing", HOUR, 40, EXP, AnomalyRule(), datetime.now(UTC)
    )
    assert again is not None
    assert again.alert_id == alert.alert_id
    assert alert.alert_id == stable_id("anomaly", "t1", DEMAND_METRIC, "queue", "billing", HOUR)
    other = demand_anomaly("t1", "region", "billing", HOUR, 25, EXP, AnomalyRule(), FIRED)
    assert other is not None
    assert other.alert_id != alert.alert_id


# -- in the tenant's hour closing ------------------------------------------------------------

DAYS = 9  # the weekly model takes over at MIN_WEEKLY_H (8 days)
SPIKE = MIN_WEEKLY_H + 10  # an hour well inside the weekly model's reign


def _series() -> np.ndarray:
    return seasonal_series(DAYS * 24, peak=30.0, seed=3).counts.copy()


def _anomalies(rows: list[DemandOutput]) -> list[Alert]:
    return [a for a in of(rows, Alert) if a.kind == "anomaly"]


def test_a_spiked_hour_raises_one_alert_per_segment_against_the_forecast_made_before_it() -> None:
    counts = _series()
    t = DemandTenant("t1", DemandConfig(horizon_h=24))
    base = _anomalies(feed(t, counts, H0))
    spiked = counts.copy()
    spiked[SPIKE] = counts[SPIKE] * 4 + 20
    t2 = DemandTenant("t1", DemandConfig(horizon_h=24))
    rows = feed(t2, spiked, H0)
    hour = H0 + SPIKE
    at_spike = [a for a in _anomalies(rows) if a.details["hour"] == _iso(hour)]
    # ticket() counts into queue billing and region north: one alert each, that hour
    assert sorted(a.subject_id for a in at_spike) == ["queue:billing", "region:north"]
    # the forecast it is judged against: generated at the start of the hour before it,
    # whose first target is this hour (the snapshot at the hour's own start begins after it)
    snap = next(
        s
        for s in of(rows, ForecastSnapshot)
        if s.segment == "billing" and s.generated_at == _dt(hour - 1)
    )
    assert snap.first_target == _dt(hour)
    billing = next(a for a in at_spike if a.subject_id == "queue:billing")
    assert billing.details["expected"] == round(snap.predicted[0], 3)
    assert billing.details["expected_range"] == [
        round(snap.lower_95[0], 3),
        round(snap.upper_95[0], 3),
    ]
    assert billing.details["actual_value"] == int(spiked[SPIKE])
    assert billing.details["forecast_generated_at"] == _iso(hour - 1)
    # every segment-hour alerts at most once, and nothing while the cold model forecast
    for alerts in (base, _anomalies(rows)):
        keys = [(a.subject_id, a.details["hour"]) for a in alerts]
        assert len(keys) == len(set(keys))
        assert all(a.details["hour"] >= _iso(H0 + MIN_WEEKLY_H + 2) for a in alerts)


def test_no_forecast_before_the_hour_means_no_alert() -> None:
    counts = _series()
    counts[:MIN_WEEKLY_H] = np.maximum(counts[:MIN_WEEKLY_H], 1)
    counts[30] = 500  # a cold-start hour: no weekly forecast made before it
    t = DemandTenant("t1", DemandConfig(horizon_h=24))
    assert _anomalies(feed(t, counts[: MIN_WEEKLY_H + 1], H0)) == []
    # a segment first seen in a spiked hour has no forecast for it either
    late = DemandTenant("t1", DemandConfig(horizon_h=24))
    feed(late, counts, H0)
    ts = (H0 + DAYS * 24) * HOUR_MS
    for k in range(300):
        late.on_event(ticket(ts + k, queue="brand-new", n=k), ts + k)  # type: ignore[arg-type]
    rows = late.close(ts + HOUR_MS, FIRED)
    assert not [a for a in _anomalies(rows) if a.subject_id == "queue:brand-new"]


def test_only_the_forecast_of_the_next_hours_is_kept_and_replays_are_identical() -> None:
    counts = _series()
    counts[SPIKE] += 200
    cfg = DemandConfig(horizon_h=24, forecast_every_h=3)
    a = DemandTenant("t1", cfg)
    rows_a = feed(a, counts, H0)
    st = a.segments[("queue", "billing")]
    assert len(st.expected) <= cfg.forecast_every_h + 1  # bounded: not the 24-hour snapshots
    assert min(st.expected) > (a.next_hour or 0) - 1
    # the same input in other chunks, through a pickle round trip mid-way (a restart)
    b = DemandTenant("t1", cfg)
    half = len(counts) // 2
    rows_b = feed(b, counts[:half], H0)
    b = pickle.loads(pickle.dumps(b))
    rows_b += feed(b, counts[half:], H0 + half)
    assert _anomalies(rows_a) == _anomalies(rows_b)
    assert any(a.details["hour"] == _iso(H0 + SPIKE) for a in _anomalies(rows_a))
    # with snapshots every 3 h, an hour is judged against the last one before it started
    spike = next(
        x
        for x in _anomalies(rows_a)
        if x.subject_id == "queue:billing" and x.details["hour"] == _iso(H0 + SPIKE)
    )
    made = datetime.fromisoformat(spike.details["forecast_generated_at"])
    assert 1 <= (H0 + SPIKE) - int(made.timestamp()) // 3600 <= 3
    assert int(made.timestamp()) // 3600 % 3 == 0


def test_anomalies_can_be_switched_off() -> None:
    counts = _series()
    counts[SPIKE] += 200
    t = DemandTenant("t1", DemandConfig(horizon_h=24, anomaly=AnomalyRule(enabled=False)))
    assert _anomalies(feed(t, counts, H0)) == []


def _dt(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def _iso(hour: int) -> str:
    return _dt(hour).isoformat()


def test_a_late_event_corrects_its_hour_but_does_not_re_judge_it() -> None:
    counts = _series()
    t = DemandTenant("t1", DemandConfig(horizon_h=24))
    feed(t, counts[: SPIKE + 1], H0)
    ts = (H0 + SPIKE) * HOUR_MS + 1
    late: list[DemandOutput] = []
    for k in range(200):  # a closed, judged hour gets far more demand after the fact
        late += t.on_event(ticket(ts + k, n=10_000 + k), ts + k)  # type: ignore[arg-type]
    assert late
    assert _anomalies(late) == []
    assert _anomalies(t.close((H0 + SPIKE + 1) * HOUR_MS, FIRED)) == []  # nothing new to close
