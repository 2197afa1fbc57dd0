"""Per-segment forecasting (flows/demand/forecast.py and its model modules) on known data."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

from bench.seasonal_demand import (
    FIRST_HOUR,
    WEEKLY,
    Pattern,
    scenario,
    seasonal_series,
    series_of,
)
from flows.demand.backtest import backtest_origins
from flows.demand.baselines import MODEL_NAIVE_WEEK, SeasonalNaive
from flows.demand.ensemble import Ensemble
from flows.demand.forecast import (
    DAY_H,
    MIN_WEEKLY_H,
    MODEL_COLD,
    MODEL_WEEKLY,
    WEEK_H,
    WEEKLY_CANDIDATES,
    SeriesModel,
    fit_series,
    forecast,
)
from flows.demand.holt_winters import MODEL_HOLT_WINTERS, fit_holt_winters
from flows.demand.intervals import Calibration, stabilise
from flows.demand.profile import fit_profile


def test_holt_winters_state_reproduces_statsmodels_forecast() -> None:
    s = seasonal_series(3 * WEEK_H, seed=1)
    values = stabilise(s.counts)
    hw = fit_holt_winters(values, s.first_hour)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ExponentialSmoothing(
            values, seasonal_periods=WEEK_H, seasonal="add", initialization_method="heuristic"
        ).fit()
    hours = s.first_hour + len(values) + np.arange(48)
    np.testing.assert_allclose(hw.predict(hours), ref.forecast(48), atol=1e-9)


def test_weekly_models_need_a_week_and_a_day() -> None:
    s = seasonal_series(MIN_WEEKLY_H - 1)
    with pytest.raises(ValueError, match="need 192 hours"):
        fit_holt_winters(stabilise(s.counts), s.first_hour)
    cold = fit_series(s.counts, s.first_hour)
    assert not cold.weekly
    assert {c.backtest.model for c in cold.candidates} == {"seasonal_naive_24h", MODEL_COLD}
    longer = seasonal_series(MIN_WEEKLY_H)
    weekly = fit_series(longer.counts, longer.first_hour)
    assert weekly.weekly
    assert weekly.name == MODEL_WEEKLY  # no backtest origin yet: the weekly default
    assert weekly.backtest is None
    assert weekly.calibration.errors == 0


def test_cold_start_with_hours_of_history_forecasts_something_sane() -> None:
    s = seasonal_series(5)
    model = fit_series(s.counts, s.first_hour)
    assert model.name == MODEL_COLD
    assert model.backtest is None
    assert model.calibration.errors == 0  # Poisson assumption until backtests exist
    band = forecast(model, s.first_hour + 5 + np.arange(24))
    assert np.all(band.predicted >= 0)
    assert np.all(band.lower_95 <= band.lower_80)
    assert np.all(band.lower_80 <= band.predicted)
    assert np.all(band.predicted <= band.upper_80)
    assert np.all(band.upper_80 <= band.upper_95)


def test_all_zero_history_forecasts_zero_without_failing() -> None:
    model = fit_series(np.zeros(400, dtype=np.int64), 482_256)
    assert not model.weekly
    band = forecast(model, 482_256 + 400 + np.arange(24))
    assert np.allclose(band.predicted, 0.0)
    assert band.upper_95.max() < 3.0


def test_backtest_origins_are_daily_and_leave_a_full_horizon() -> None:
    assert (
        backtest_origins(400, MIN_WEEKLY_H, 7, 24) == [208, 232, 256, 280, 304, 328, 352, 376][-7:]
    )
    assert backtest_origins(200, MIN_WEEKLY_H, 7, 24) == []
    assert backtest_origins(50, DAY_H, 7, 24) == [26]
    assert backtest_origins(30, DAY_H, 7, 24) == []


def test_an_exactly_periodic_series_is_forecast_near_perfectly() -> None:
    hours = 482_256 + np.arange(4 * WEEK_H)
    y = np.round(20 + 10 * np.sin(2 * np.pi * (hours % DAY_H) / DAY_H)).astype(np.int64)
    model = fit_series(y, 482_256)
    bt = model.backtest
    assert bt is not None
    assert (bt.origins, bt.points, bt.baseline) == (7, 168, "seasonal_naive_168h")
    assert bt.wape is not None
    assert bt.wape < 0.05
    assert model.name == MODEL_NAIVE_WEEK  # exact: nothing beats it, and ties go to it


def test_calibration_falls_back_to_poisson_with_few_errors() -> None:
    assert Calibration.from_errors(np.zeros(5)).errors == 0
    cal = Calibration.from_errors(np.linspace(-1, 1, 101))
    assert cal.errors == 101
    assert cal.q80 == pytest.approx(0.8, abs=0.02)
    assert cal.q95 == pytest.approx(0.95, abs=0.02)


def _weekly_fit(counts: np.ndarray, first_hour: int = 482_256) -> SeriesModel:
    model = fit_series(counts, first_hour)
    assert model.weekly
    assert {c.backtest.model for c in model.candidates} == set(WEEKLY_CANDIDATES)
    return model


def _adversarial_series() -> dict[str, np.ndarray]:
    """Series built so that the clever models lose: nothing pooled across days holds."""
    rng = np.random.default_rng(7)
    n = 5 * WEEK_H
    week = rng.integers(0, 60, WEEK_H)  # every hour of the week its own, no daily shape
    return {
        "hour-of-week pattern": np.tile(week, 5)[:n],
        "random walk": np.maximum(0, 30 + np.cumsum(rng.integers(-3, 4, n))),
        "bursts": rng.poisson(0.3, n) * rng.integers(0, 80, n),
        "one busy hour a week": np.tile(np.eye(1, WEEK_H, 37)[0] * 90, 5).astype(np.int64),
    }


@pytest.mark.parametrize("name", list(_adversarial_series()))
def test_selection_is_never_worse_than_seasonal_naive_in_the_backtest(name: str) -> None:
    model = _weekly_fit(_adversarial_series()[name])
    by_name = {c.backtest.model: c for c in model.candidates}
    chosen = model.backtest
    assert chosen is not None
    assert sum(c.selected for c in model.candidates) == 1
    naive = by_name[MODEL_NAIVE_WEEK].backtest
    assert naive.mase in (1.0, None)  # it is its own baseline
    assert chosen.mae <= naive.mae
    if all(c.backtest.mae >= naive.mae for c in model.candidates):
        assert model.name == MODEL_NAIVE_WEEK
    # intervals come from the chosen model's own out-of-sample errors
    assert model.calibration.errors == chosen.points


def test_hour_of_week_patterns_are_not_given_to_the_pooled_profile() -> None:
    model = _weekly_fit(_adversarial_series()["hour-of-week pattern"])
    assert model.name in (MODEL_NAIVE_WEEK, MODEL_HOLT_WINTERS)


def test_the_profile_recovers_the_rate_from_three_weeks() -> None:
    pattern = Pattern(peak=20.0, weekly=(1.0, 1.0, 0.95, 1.0, 0.9, 0.4, 0.3))
    s = series_of(pattern, 3 * WEEK_H + WEEK_H, seed=3)
    cut = 3 * WEEK_H
    profile = fit_profile(s.counts[:cut].astype(np.float64), s.first_hour)
    hours = s.first_hour + cut + np.arange(WEEK_H)
    rate = s.rate[cut:]
    wape = np.abs(profile.expected(hours) - rate).sum() / rate.sum()
    assert wape < 0.08
    assert profile.shape.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_a_holiday_does_not_bend_its_weekday_and_a_level_shift_is_followed() -> None:
    history = 4 * WEEK_H
    plain = Pattern(peak=30.0)
    base = series_of(plain, history, seed=5)
    day0 = base.first_hour // 24
    holiday = series_of(Pattern(peak=30.0, holidays=(day0 + 23,)), history, seed=5)  # a Tuesday
    a = fit_profile(base.counts.astype(np.float64), base.first_hour)
    b = fit_profile(holiday.counts.astype(np.float64), holiday.first_hour)
    assert b.day_factor[1] == pytest.approx(a.day_factor[1], rel=0.05)
    assert b.level == pytest.approx(a.level, rel=0.05)
    shifted = series_of(
        Pattern(peak=30.0, shift_hour=base.first_hour + history - 96, shift=1.5), history, 5
    )
    c = fit_profile(shifted.counts.astype(np.float64), shifted.first_hour)
    assert c.level == pytest.approx(1.5 * a.level, rel=0.12)  # four days after the shift


@pytest.mark.parametrize("seed", [11, 12])
def test_holidays_next_to_a_weekend_are_odd_days_too(seed: int) -> None:
    """Thursday and Friday at weekend level make four quiet days in a row: the median of
    their week is then a weekend day, unless the weekdays start from their own level
    (found on the benchmark's first holdout: Thursday's factor fell 10-15 %)."""
    history = 3 * WEEK_H
    day0 = FIRST_HOUR // 24
    quiet = Pattern(peak=60.0, holidays=(day0 + 10, day0 + 11), holiday_level=0.45)
    y = series_of(quiet, history, seed=seed).counts.astype(np.float64)
    factor = fit_profile(y, FIRST_HOUR).day_factor
    truth = np.array(WEEKLY[3:5]) / np.mean(WEEKLY[:3])  # Thursday, Friday vs Mon-Wed
    np.testing.assert_allclose(factor[3:5] / factor[:3].mean(), truth, rtol=0.06)


def test_ensemble_is_the_mean_of_its_members_and_models_survive_pickling() -> None:
    s = seasonal_series(4 * WEEK_H, peak=20.0, seed=2)
    y = s.counts.astype(np.float64)
    profile = fit_profile(y, s.first_hour)
    hw = fit_holt_winters(stabilise(y), s.first_hour)
    ens = Ensemble((profile, hw))
    hours = s.first_hour + len(y) + np.arange(30)
    np.testing.assert_allclose(
        ens.expected(hours), (profile.expected(hours) + hw.expected(hours)) / 2
    )
    ens.observe(s.first_hour + len(y), 12.0)
    again = pickle.loads(pickle.dumps(ens))  # segment state goes into recovery snapshots
    np.testing.assert_array_equal(again.expected(hours), ens.expected(hours))


def test_seasonal_naive_repeats_the_latest_week_and_follows_new_hours() -> None:
    y = np.arange(2 * WEEK_H, dtype=np.float64)
    naive = SeasonalNaive.fit(y, 0, WEEK_H)
    np.testing.assert_array_equal(naive.expected(np.array([336, 337, 504])), [168, 169, 168])
    naive.observe(336, 5.0)
    assert naive.expected(np.array([504]))[0] == 5.0


def _score(pattern: Pattern, weeks: int, seed: int, origins: int = 7) -> dict[str, float]:
    """Forecasts made daily after ``weeks`` of history, scored on the next 24 h."""
    s = series_of(pattern, weeks * WEEK_H + origins * DAY_H, seed)
    err_true = total_true = err = err_naive = 0.0
    in80 = in95 = n = 0
    for o in range(origins):
        cut = weeks * WEEK_H + o * DAY_H
        model = fit_series(s.counts[:cut], s.first_hour)
        band = forecast(model, s.first_hour + cut + np.arange(24))
        actual = s.counts[cut : cut + 24]
        rate = s.rate[cut : cut + 24]
        err_true += float(np.abs(band.predicted - rate).sum())
        total_true += float(rate.sum())
        err += float(np.abs(band.predicted - actual).sum())
        err_naive += float(np.abs(s.counts[cut - WEEK_H : cut - WEEK_H + 24] - actual).sum())
        in80 += int(((actual >= band.lower_80) & (actual <= band.upper_80)).sum())
        in95 += int(((actual >= band.lower_95) & (actual <= band.upper_95)).sum())
        n += 24
    return {
        "wape_vs_rate": err_true / total_true,
        "mase": err / err_naive,
        "coverage_80": in80 / n,
        "coverage_95": in95 / n,
    }


def test_quality_floor_on_the_issue_tenant() -> None:
    """Issue #16's tenant: four weeks, peak ~30/h on weekdays, weekends at half, nights
    ~4/h. Holt-Winters alone scored WAPE 0.168 against the true rate, seasonal-naive 0.165."""
    pattern = Pattern(peak=30.0, weekly=(1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5), night=4 / 30)
    q = _score(pattern, weeks=4, seed=16)
    print(q)
    assert q["wape_vs_rate"] <= 0.10
    assert q["mase"] < 0.85
    assert abs(q["coverage_80"] - 0.80) <= 0.07  # 168 points: +-3 points of noise alone
    assert abs(q["coverage_95"] - 0.95) <= 0.05


@pytest.mark.parametrize(("kind", "peak", "weeks"), [("holiday", 20.0, 3), ("shift", 60.0, 6)])
def test_quality_floors_on_harder_scenarios(kind: str, peak: float, weeks: int) -> None:
    """Fixed tuning seeds of the benchmark's generators (bench/forecast_quality.py)."""
    pattern = scenario(kind, peak=peak, history_h=weeks * WEEK_H, seed=1)
    q = _score(pattern, weeks=weeks, seed=1)
    print(q)
    assert q["wape_vs_rate"] <= 0.12
    assert q["mase"] < 0.9
    assert abs(q["coverage_80"] - 0.80) <= 0.08
    assert q["coverage_95"] >= 0.88
