"""Additive Holt-Winters with one 168-hour season, on square-root counts.

The original per-segment model, kept as a candidate: it learns every hour of the week on
its own (about four samples each in four weeks), so it shines on segments whose days
differ in shape and is noisy where all weekdays share one. Parameters come from
statsmodels; between refits the state is advanced one hour at a time with the same
recursion statsmodels uses (checked against its forecasts in the unit tests).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from flows.demand.intervals import POISSON_VAR, Floats, Ints, stabilise

WEEK_H = 168
DAY_H = 24
MIN_WEEKLY_H = WEEK_H + DAY_H  # a week to initialise the season, a day to fit on
MODEL_HOLT_WINTERS = "holt_winters_168h_sqrt"
_SHIFT = 0.375


@dataclass
class HoltWinters:
    """Additive Holt-Winters without trend, season 168 h, in the square-root scale."""

    alpha: float
    gamma: float
    level: float
    seasonal: Floats  # indexed by absolute hour % 168

    name = MODEL_HOLT_WINTERS
    weekly = True

    def update(self, hour: int, value: float) -> None:
        """Fold in the stabilised value observed at ``hour``."""
        slot = hour % WEEK_H
        s_prev = float(self.seasonal[slot])
        new_level = self.alpha * (value - s_prev) + (1.0 - self.alpha) * self.level
        self.seasonal[slot] = self.gamma * (value - self.level) + (1.0 - self.gamma) * s_prev
        self.level = new_level

    def predict(self, hours: Ints) -> Floats:
        """Mean forecast (square-root scale) for future absolute hours."""
        return np.asarray(self.level + self.seasonal[hours % WEEK_H], dtype=np.float64)

    def observe(self, hour: int, count: float) -> None:
        self.update(hour, float(stabilise(count)))

    def expected(self, hours: Ints) -> Floats:
        """Expected counts: E[Y] = E[Z]^2 + Var Z - 3/8 with Z = sqrt(Y + 3/8)."""
        m = np.maximum(self.predict(hours), 0.0)
        return np.maximum(m * m + POISSON_VAR - _SHIFT, 0.0)


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
    if not all(np.isfinite(x) for x in (hw.alpha, hw.gamma, hw.level)):
        raise ValueError("Holt-Winters fit did not converge to finite parameters")
    for i, v in enumerate(values):
        hw.update(first_hour + i, float(v))
    return hw
