"""Rolling-origin backtests: how a candidate would have done at daily origins.

Each origin is an index into the history; a candidate forecasts ``horizon_h`` hours from
it with only the hours before it, and is scored on what came. ``mase`` divides its mean
absolute error by seasonal-naive's on the same hours (last week's same hour, or
yesterday's with under a week behind the first origin), so every candidate of one refit
is compared on the same targets. Coverage of an origin uses intervals calibrated on the
*other* origins' errors only, so it is measured out of sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flows.demand.intervals import Calibration, Floats, stabilise, to_interval

DAY_H = 24
WEEK_H = 168


@dataclass(frozen=True)
class Backtest:
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
class Scored:
    backtest: Backtest
    errors: Floats  # square-root-scale errors of every point (for calibration)


def backtest_origins(n: int, min_train: int, max_origins: int, horizon: int) -> list[int]:
    """Daily origins (indices) ending ``horizon`` before the end, as many as history allows."""
    last = n - horizon
    return sorted(range(last, min_train - 1, -DAY_H))[-max_origins:] if last >= min_train else []


def baseline_season(origins: list[int]) -> int:
    return WEEK_H if origins[0] >= WEEK_H else DAY_H


def naive_forecasts(y: Floats, origins: list[int], horizon: int, season: int) -> list[Floats]:
    """Seasonal-naive from each origin: the value ``season`` hours before each target
    (for targets beyond one season, the latest value in the same slot)."""
    steps = np.arange(horizon)
    return [y[c - season + steps % season] for c in origins]


def score(
    name: str, y: Floats, origins: list[int], forecasts: list[Floats], naive: list[Floats]
) -> Scored:
    """Scores of one candidate's forecasts (expected counts) made at ``origins``."""
    horizon = len(forecasts[0])
    actuals = [y[c : c + horizon] for c in origins]
    errs = [stabilise(a) - stabilise(f) for a, f in zip(actuals, forecasts, strict=True)]
    abs_err = base_err = total = 0.0
    inside80 = inside95 = 0
    for k, (actual, f, b) in enumerate(zip(actuals, forecasts, naive, strict=True)):
        others = [e for j, e in enumerate(errs) if j != k]
        band = to_interval(f, Calibration.from_errors(np.concatenate(others or [np.empty(0)])))
        abs_err += float(np.abs(band.predicted - actual).sum())
        base_err += float(np.abs(b - actual).sum())
        total += float(actual.sum())
        inside80 += int(((actual >= band.lower_80) & (actual <= band.upper_80)).sum())
        inside95 += int(((actual >= band.lower_95) & (actual <= band.upper_95)).sum())
    points = horizon * len(origins)
    bt = Backtest(
        model=name,
        baseline=f"seasonal_naive_{baseline_season(origins)}h",
        origins=len(origins),
        horizon_h=horizon,
        points=points,
        mae=abs_err / points,
        baseline_mae=base_err / points,
        wape=abs_err / total if total > 0 else None,
        mase=abs_err / base_err if base_err > 0 else None,
        coverage_80=inside80 / points,
        coverage_95=inside95 / points,
    )
    return Scored(bt, np.concatenate(errs))
