"""Hourly demand forecasting for one series: models, intervals and rolling-origin backtests.

Pure numerics (numpy + statsmodels); no Bytewax, Kafka or I/O. Hours are absolute hour
indices (``epoch ms // 3_600_000``), so seasonal slots are fixed hours of the week and
a model's state never needs re-aligning.

Why this model (measured in ``bench/forecast_models.py``): on hourly Poisson counts with
daily and weekly seasonality, additive Holt-Winters with a 168-hour season on
variance-stabilised counts (``sqrt(y + 3/8)``) is as accurate as statsforecast's
MSTL(24, 168) + AutoETS (WAPE and MASE within a point of each other) at a thirtieth of
the refit time, and a 168-hour season holds the daily cycle inside it. Parameters come from
statsmodels; between refits the state is advanced one hour at a time with the same
recursion statsmodels uses (checked against its forecasts in the unit tests).

Intervals are calibrated, not assumed: the model's own residuals underestimate its
out-of-sample error (80 % intervals covered ~65 %), so the 80/95 % half-widths are the
quantiles of absolute out-of-sample errors from the rolling-origin backtest, in the
square-root scale, and then squared back (wider at peaks, as Poisson noise is).

With less than a week of history the cold-start model ``seasonal_mean_24h`` (mean of the
same hour over the past days, in the square-root scale) stands in; its intervals use the
Poisson variance of the transform (1/4) inflated for the estimate until backtest errors
exist.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

WEEK_H = 168
DAY_H = 24
HOUR_MS = 3_600_000
MODEL_WEEKLY = "holt_winters_168h_sqrt"
MODEL_COLD = "seasonal_mean_24h"
MIN_WEEKLY_H = WEEK_H + DAY_H  # a week to initialise the season, a day to fit on
_SHIFT = 0.375  # Anscombe: sqrt(y + 3/8) has variance ~1/4 for Poisson y
_POISSON_SD = 0.5
_COLD_INFLATE = 1.5  # estimate uncertainty on top of Poisson noise, before backtests
_Z80, _Z95 = 1.2816, 1.96
MIN_CALIBRATION_ERRORS = 24

Floats = npt.NDArray[np.float64]


def stabilise(counts: npt.ArrayLike) -> Floats:
    return np.sqrt(np.asarray(counts, dtype=np.float64) + _SHIFT)


def unstabilise(m: Floats, extra_var: float = 0.0) -> Floats:
    """Back to counts; ``extra_var`` is the bias correction E[X²] = m² + var."""
    return np.maximum(m * m - _SHIFT + extra_var, 0.0)


@dataclass
class HoltWinters:
    """Additive Holt-Winters without trend, season 168 h, in the square-root scale."""

    alpha: float
    gamma: float
    level: float
    seasonal: Floats  # indexed by absolute hour % 168

    def update(self, hour: int, value: float) -> None:
        """Fold in the stabilised value observed at ``hour``."""
        slot = hour % WEEK_H
        s_prev = float(self.seasonal[slot])
        new_level = self.alpha * (value - s_prev) + (1.0 - self.alpha) * self.level
        self.seasonal[slot] = self.gamma * (value - self.level) + (1.0 - self.gamma) * s_prev
        self.level = new_level

    def predict(self, hours: npt.NDArray[np.int64]) -> Floats:
        """Mean forecast (square-root scale) for future absolute hours."""
        return np.asarray(self.level + self.seasonal[hours % WEEK_H], dtype=np.float64)


def fit_holt_winters(values: Floats, first_hour: int) -> HoltWinters:
    """Fit on stabilised ``values`` starting at ``first_hour`` and run them through.

    statsmodels estimates the smoothing weights; the first week initialises the season
    when there is too little data for its heuristic (two cycles plus ten hours).
    """
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    n = len(values)
    if n < MIN_WEEKLY_H:
        raise ValueError(f"need {MIN_WEEKLY_H} hours of history, got {n}")
    if n >= 2 * WEEK_H + 10:
        model = ExponentialSmoothing(
            values, seasonal_periods=WEEK_H, seasonal="add", initialization_method="heuristic"
        )
    else:
        first = values[:WEEK_H]
        model = ExponentialSmoothing(
            values,
            seasonal_periods=WEEK_H,
            seasonal="add",
            initialization_method="known",
            initial_level=float(first.mean()),
            initial_seasonal=first - first.mean(),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the backtest judges the fit
        fit = model.fit()
    params = fit.params
    initial = np.asarray(params["initial_seasons"], dtype=np.float64)
    seasonal = np.empty(WEEK_H, dtype=np.float64)
    # initial_seasons[i] is s_{i-m}: the slot of hour first_hour + i
    seasonal[(first_hour + np.arange(WEEK_H)) % WEEK_H] = initial
    hw = HoltWinters(
        alpha=float(params["smoothing_level"]),
        gamma=float(params["smoothing_seasonal"]),
        level=float(params["initial_level"]),
        seasonal=seasonal,
    )
    for i, v in enumerate(values):
        hw.update(first_hour + i, float(v))
    return hw


def seasonal_mean(values: Floats, first_hour: int, hours: npt.NDArray[np.int64]) -> Floats:
    """Per hour of day, the mean of its last (up to) seven values, square-root scale.

    Every future hour of a given hour of day gets the same profile value; an hour of day
    not seen yet (under a day of history) gets the overall mean.
    """
    n = len(values)
    if n == 0:
        return np.zeros(len(hours), dtype=np.float64)
    profile = np.full(DAY_H, float(values.mean()))
    for slot in range(DAY_H):
        # latest index i < n with (first_hour + i) % 24 == slot, then every day back
        last = n - 1 - ((first_hour + n - 1 - slot) % DAY_H)
        if last >= 0:
            profile[slot] = float(values[last::-DAY_H][:7].mean())
    return np.asarray(profile[hours % DAY_H], dtype=np.float64)


@dataclass(frozen=True)
class Calibration:
    """Interval half-widths (square-root scale) and the bias-correcting error variance."""

    q80: float
    q95: float
    var: float
    errors: int  # out-of-sample errors behind it; 0 = Poisson assumption

    @classmethod
    def poisson(cls) -> Calibration:
        sd = _POISSON_SD * _COLD_INFLATE
        return cls(_Z80 * sd, _Z95 * sd, sd * sd, 0)

    @classmethod
    def from_errors(cls, errors: Floats) -> Calibration:
        if len(errors) < MIN_CALIBRATION_ERRORS:
            return cls.poisson()
        a = np.abs(errors)
        q80, q95 = np.quantile(a, [0.8, 0.95])
        return cls(float(q80), float(q95), float(np.mean(errors * errors)), len(errors))


@dataclass(frozen=True)
class Interval:
    predicted: Floats
    lower_80: Floats
    upper_80: Floats
    lower_95: Floats
    upper_95: Floats


def to_interval(mean: Floats, cal: Calibration) -> Interval:
    def bound(m: Floats) -> Floats:
        return unstabilise(np.maximum(m, 0.0))

    return Interval(
        predicted=unstabilise(mean, cal.var),
        lower_80=bound(mean - cal.q80),
        upper_80=bound(mean + cal.q80),
        lower_95=bound(mean - cal.q95),
        upper_95=bound(mean + cal.q95),
    )


@dataclass(frozen=True)
class Backtest:
    """Rolling-origin accuracy: daily origins, ``horizon_h`` hours ahead from each.

    ``mase`` divides the model's mean absolute error by the seasonal-naive one on the same
    targets (``baseline``: last week's same hour, or yesterday's with < 1 week behind the
    origin). Coverage of an origin uses intervals calibrated on the *other* origins only,
    so it is measured out of sample.
    """

    model: str
    baseline: str
    origins: int
    horizon_h: int
    points: int
    mae: float
    baseline_mae: float
    wape: float | None
    mase: float | None
    coverage_80: float | None
    coverage_95: float | None


@dataclass(frozen=True)
class BacktestRun:
    backtest: Backtest
    errors: Floats  # square-root-scale errors of every backtest point (for calibration)


def _origin_forecasts(
    values: Floats, first_hour: int, origins: list[int], horizon: int, weekly: bool
) -> list[Floats]:
    """Mean forecasts (square-root scale) made at each origin (an index into values)."""
    steps = np.arange(horizon, dtype=np.int64)
    if not weekly:
        return [seasonal_mean(values[:c], first_hour, first_hour + c + steps) for c in origins]
    hw = fit_holt_winters(values[: origins[0]], first_hour)
    out: list[Floats] = []
    pos = origins[0]
    for c in origins:
        while pos < c:
            hw.update(first_hour + pos, float(values[pos]))
            pos += 1
        out.append(hw.predict(first_hour + c + steps))
    return out


def backtest_origins(n: int, weekly: bool, max_origins: int, horizon: int) -> list[int]:
    """Daily origins (indices) ending ``horizon`` before the end, as many as history allows."""
    min_train = MIN_WEEKLY_H if weekly else DAY_H
    last = n - horizon
    origins = [c for c in range(last, min_train - 1, -DAY_H)][:max_origins]
    return sorted(origins)


def run_backtest(
    counts: npt.ArrayLike, first_hour: int, *, weekly: bool, max_origins: int, horizon_h: int
) -> BacktestRun | None:
    """Rolling-origin backtest of the weekly or cold-start model; None without origins."""
    y = np.asarray(counts, dtype=np.float64)
    values = stabilise(y)
    origins = backtest_origins(len(y), weekly, max_origins, horizon_h)
    if not origins:
        return None
    means = _origin_forecasts(values, first_hour, origins, horizon_h, weekly)
    errs = [values[c : c + horizon_h] - m for c, m in zip(origins, means, strict=True)]
    all_errors = np.concatenate(errs)
    abs_err = base_err = total = 0.0
    inside80 = inside95 = scored = 0
    season = WEEK_H if origins[0] >= WEEK_H else DAY_H
    for k, (c, m) in enumerate(zip(origins, means, strict=True)):
        others = np.concatenate([e for j, e in enumerate(errs) if j != k] or [np.empty(0)])
        cal = Calibration.from_errors(others)
        band = to_interval(m, cal)
        actual = y[c : c + horizon_h]
        naive = y[c - season : c - season + horizon_h]
        abs_err += float(np.abs(band.predicted - actual).sum())
        base_err += float(np.abs(naive - actual).sum())
        total += float(actual.sum())
        inside80 += int(((actual >= band.lower_80) & (actual <= band.upper_80)).sum())
        inside95 += int(((actual >= band.lower_95) & (actual <= band.upper_95)).sum())
        scored += len(actual)
    bt = Backtest(
        model=MODEL_WEEKLY if weekly else MODEL_COLD,
        baseline=f"seasonal_naive_{season}h",
        origins=len(origins),
        horizon_h=horizon_h,
        points=scored,
        mae=abs_err / scored,
        baseline_mae=base_err / scored,
        wape=abs_err / total if total > 0 else None,
        mase=abs_err / base_err if base_err > 0 else None,
        coverage_80=inside80 / scored,
        coverage_95=inside95 / scored,
    )
    return BacktestRun(bt, all_errors)


@dataclass
class SeriesModel:
    """What a segment forecasts with until the next refit."""

    name: str
    calibration: Calibration
    hw: HoltWinters | None = None
    backtest: Backtest | None = None


def fit_series(
    counts: npt.ArrayLike, first_hour: int, *, max_origins: int = 7, horizon_h: int = 24
) -> SeriesModel:
    """Choose and fit the model a series' history supports, with its backtest.

    A weekly fit that fails (degenerate data) falls back to the cold-start model rather
    than stopping the flow.
    """
    y = np.asarray(counts, dtype=np.float64)
    weekly = len(y) >= MIN_WEEKLY_H and bool(y.any())
    if weekly:
        try:
            run = run_backtest(
                y, first_hour, weekly=True, max_origins=max_origins, horizon_h=horizon_h
            )
            hw = fit_holt_winters(stabilise(y), first_hour)
        except (ValueError, np.linalg.LinAlgError):
            weekly = False
        else:
            if all(math.isfinite(x) for x in (hw.alpha, hw.gamma, hw.level)):
                cal = Calibration.from_errors(run.errors) if run else Calibration.poisson()
                return SeriesModel(MODEL_WEEKLY, cal, hw, run.backtest if run else None)
    run = run_backtest(y, first_hour, weekly=False, max_origins=max_origins, horizon_h=horizon_h)
    cal = Calibration.from_errors(run.errors) if run else Calibration.poisson()
    return SeriesModel(MODEL_COLD, cal, None, run.backtest if run else None)


def forecast(
    model: SeriesModel, counts: npt.ArrayLike, first_hour: int, hours: npt.NDArray[np.int64]
) -> Interval:
    """Forecast of ``hours`` (absolute, after the history) with 80/95 % intervals."""
    if model.hw is not None:
        mean = model.hw.predict(hours)
    else:
        mean = seasonal_mean(stabilise(counts), first_hour, hours)
    return to_interval(mean, model.calibration)
