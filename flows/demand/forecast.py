"""Per-segment forecasting: which model a series gets at each refit, and its forecasts.

Pure numerics; no Bytewax, Kafka or I/O. Hours are absolute hour indices
(``epoch ms // 3_600_000``), so seasonal slots are fixed hours of the week and a model's
state never needs re-aligning.

Why automatic selection (as Genesys' "auto best method" and NICE's best-pick do): no one
model wins on every segment. The pooled daily profile wins where weekdays share a shape
(most contact-centre demand), Holt-Winters where each day has its own, seasonal-naive on
erratic or sparse series, and the ensemble often beats its members. At every refit each
candidate the history supports is backtested from the same rolling origins
(:mod:`flows.demand.backtest`), and the one with the lowest mean absolute error, i.e.
the lowest MASE, forecasts until the next refit. Seasonal-naive is a candidate and the
MASE baseline, so the choice is never worse than it in the backtest. Intervals come from
the chosen model's own out-of-sample errors (:mod:`flows.demand.intervals`).

Candidates with a week and a day of history (``MIN_WEEKLY_H``): ``seasonal_naive_168h``,
``daily_profile_poisson``, ``holt_winters_168h_sqrt`` and ``ensemble_mean`` (profile and
Holt-Winters); before that the cold-start ones, ``seasonal_naive_24h`` and
``seasonal_mean_24h``. With no backtest origin yet, the default of the phase
(``daily_profile_poisson``, ``seasonal_mean_24h``) stands in with Poisson intervals.
Holt-Winters is optimised (statsmodels) once per refit, at the first backtest origin, and
advanced to the end of the history; the other candidates are closed-form.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flows.demand.backtest import (
    Backtest,
    Scored,
    backtest_origins,
    naive_forecasts,
    score,
)
from flows.demand.baselines import (
    DAY_H,
    MODEL_COLD,
    MODEL_NAIVE_DAY,
    MODEL_NAIVE_WEEK,
    WEEK_H,
    SeasonalMean,
    SeasonalNaive,
)
from flows.demand.ensemble import MODEL_ENSEMBLE, Ensemble, Forecaster, combine
from flows.demand.holt_winters import (
    MIN_WEEKLY_H,
    MODEL_HOLT_WINTERS,
    HoltWinters,
    fit_holt_winters,
)
from flows.demand.intervals import Calibration, Floats, Interval, Ints, stabilise, to_interval
from flows.demand.profile import MODEL_PROFILE, fit_profile

__all__ = [
    "DAY_H",
    "HOUR_MS",
    "MIN_WEEKLY_H",
    "MODEL_COLD",
    "MODEL_WEEKLY",
    "WEEK_H",
    "Backtest",
    "Candidate",
    "SeriesModel",
    "fit_series",
    "forecast",
]

HOUR_MS = 3_600_000
MODEL_WEEKLY = MODEL_PROFILE  # the weekly phase's default (no backtest yet)
WEEKLY_CANDIDATES = (MODEL_NAIVE_WEEK, MODEL_PROFILE, MODEL_HOLT_WINTERS, MODEL_ENSEMBLE)
COLD_CANDIDATES = (MODEL_NAIVE_DAY, MODEL_COLD)
_FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class Candidate:
    """One candidate's backtest at a refit, and whether it was chosen."""

    backtest: Backtest
    selected: bool


@dataclass
class SeriesModel:
    """What a segment forecasts with until the next refit."""

    forecaster: Forecaster
    calibration: Calibration
    candidates: tuple[Candidate, ...] = ()

    @property
    def name(self) -> str:
        return self.forecaster.name

    @property
    def weekly(self) -> bool:
        return self.forecaster.weekly

    @property
    def backtest(self) -> Backtest | None:
        """The chosen model's backtest (None before the first origin)."""
        return next((c.backtest for c in self.candidates if c.selected), None)


def _hw_origin_forecasts(
    y: Floats, first_hour: int, origins: list[int], horizon: int
) -> tuple[list[Floats], HoltWinters]:
    """One statsmodels fit at the first origin, then advanced hour by hour (as the flow
    does between refits) to each later origin and on to the end of the history: the
    weights estimated a backtest earlier serve the forecasts until the next refit, so a
    refit costs one optimisation, not two."""
    hw = fit_holt_winters(stabilise(y[: origins[0]]), first_hour)
    steps = np.arange(horizon, dtype=np.int64)
    out: list[Floats] = []
    pos = origins[0]
    for c in [*origins, len(y)]:
        while pos < c:
            hw.observe(first_hour + pos, float(y[pos]))
            pos += 1
        if c < len(y):
            out.append(hw.expected(first_hour + c + steps))
    return out, hw


def _each_origin(
    fit: Callable[[Floats, int], Forecaster],
    y: Floats,
    first_hour: int,
    origins: list[int],
    horizon: int,
) -> list[Floats]:
    """A fresh fit at every origin (the closed-form candidates)."""
    steps = np.arange(horizon, dtype=np.int64)
    return [fit(y[:c], first_hour).expected(first_hour + c + steps) for c in origins]


def _profile(y: Floats, first_hour: int) -> Forecaster:
    return fit_profile(y, first_hour)


def _weekly_backtests(
    y: Floats, first_hour: int, origins: list[int], horizon: int
) -> tuple[dict[str, list[Floats]], dict[str, Forecaster]]:
    """Every weekly candidate's forecasts at the origins (a failed fit drops it), and
    the final models fitted on the way (Holt-Winters)."""
    out: dict[str, list[Floats]] = {
        MODEL_NAIVE_WEEK: naive_forecasts(y, origins, horizon, WEEK_H),
    }
    fitted: dict[str, Forecaster] = {}
    with contextlib.suppress(*_FIT_ERRORS):
        out[MODEL_PROFILE] = _each_origin(_profile, y, first_hour, origins, horizon)
    with contextlib.suppress(*_FIT_ERRORS):
        out[MODEL_HOLT_WINTERS], fitted[MODEL_HOLT_WINTERS] = _hw_origin_forecasts(
            y, first_hour, origins, horizon
        )
    if MODEL_PROFILE in out and MODEL_HOLT_WINTERS in out:
        out[MODEL_ENSEMBLE] = [
            combine([a, b])
            for a, b in zip(out[MODEL_PROFILE], out[MODEL_HOLT_WINTERS], strict=True)
        ]
    return out, fitted


def _cold_backtests(
    y: Floats, first_hour: int, origins: list[int], horizon: int
) -> tuple[dict[str, list[Floats]], dict[str, Forecaster]]:
    forecasts = {
        MODEL_NAIVE_DAY: naive_forecasts(y, origins, horizon, DAY_H),
        MODEL_COLD: _each_origin(SeasonalMean.fit, y, first_hour, origins, horizon),
    }
    return forecasts, {}


def _final_fit(
    name: str, y: Floats, first_hour: int, fitted: dict[str, Forecaster] | None = None
) -> Forecaster:
    """The named candidate on the whole history (reusing what the backtest fitted)."""
    ready = fitted or {}
    if name in ready:
        return ready[name]
    if name == MODEL_NAIVE_WEEK:
        return SeasonalNaive.fit(y, first_hour, WEEK_H)
    if name == MODEL_NAIVE_DAY:
        return SeasonalNaive.fit(y, first_hour, DAY_H)
    if name == MODEL_COLD:
        return SeasonalMean.fit(y, first_hour)
    if name == MODEL_PROFILE:
        return fit_profile(y, first_hour)
    if name == MODEL_HOLT_WINTERS:
        return fit_holt_winters(stabilise(y), first_hour)
    if name == MODEL_ENSEMBLE:
        members = (MODEL_PROFILE, MODEL_HOLT_WINTERS)
        return Ensemble(tuple(_final_fit(m, y, first_hour, ready) for m in members))
    raise ValueError(f"unknown model {name}")


def choose(scored: dict[str, Scored], order: tuple[str, ...]) -> str:
    """The lowest backtest MAE (= MASE: same targets, same baseline); ties go to the
    earlier in ``order``, which starts with seasonal-naive, so nothing worse than it
    (or merely as good) is ever chosen over it."""
    ranked = [n for n in order if n in scored]
    return min(ranked, key=lambda n: (scored[n].backtest.mae, ranked.index(n)))


def fit_series(
    counts: npt.ArrayLike,
    first_hour: int,
    *,
    max_origins: int = 7,
    horizon_h: int = 24,
    only: frozenset[str] | None = None,
) -> SeriesModel:
    """Backtest the candidates the history supports, fit the best on all of it.

    ``only`` restricts the choice (benchmarks score one model at a time); every
    candidate is still backtested and published. A chosen model whose final fit fails
    (degenerate data) gives way to the next best, and seasonal-naive never fails, so a
    refit never stops the flow.
    """
    y = np.asarray(counts, dtype=np.float64)
    weekly = len(y) >= MIN_WEEKLY_H and bool(y.any())
    order = WEEKLY_CANDIDATES if weekly else COLD_CANDIDATES
    origins = backtest_origins(len(y), MIN_WEEKLY_H if weekly else DAY_H, max_origins, horizon_h)
    if not origins:
        default = MODEL_WEEKLY if weekly else MODEL_COLD
        preferred = [n for n in order if only is not None and n in only]
        for name in (*preferred, default, order[0]):
            try:
                return SeriesModel(_final_fit(name, y, first_hour), Calibration.poisson())
            except _FIT_ERRORS:
                continue
        raise AssertionError("seasonal-naive cannot fail to fit")
    backtests = _weekly_backtests if weekly else _cold_backtests
    forecasts, fitted = backtests(y, first_hour, origins, horizon_h)
    naive = forecasts[order[0]]  # the phase's seasonal-naive is the MASE baseline
    scored = {n: score(n, y, origins, f, naive) for n, f in forecasts.items()}
    remaining = {n: sc for n, sc in scored.items() if only is None or n in only} or dict(scored)
    while True:
        best = choose(remaining, order)
        try:
            forecaster = _final_fit(best, y, first_hour, fitted)
        except _FIT_ERRORS:
            del remaining[best]
            continue
        candidates = tuple(Candidate(scored[n].backtest, n == best) for n in order if n in scored)
        return SeriesModel(forecaster, Calibration.from_errors(scored[best].errors), candidates)


def forecast(model: SeriesModel, hours: Ints) -> Interval:
    """Forecast of ``hours`` (absolute, after the history) with 80/95 % intervals."""
    return to_interval(model.forecaster.expected(hours), model.calibration)
