"""Forecast accuracy on the seasonal generator, and the model choice behind it.

For each (peak rate, weeks of history): forecasts are made daily for ``--origins``
days, each 24 h ahead, and scored against the true rate (WAPE) and the noisy actuals
(MASE vs last week's same hour; 80/95 % interval coverage). Two candidate models run
on the same series with the same calibration (square-root scale, intervals from
rolling-origin errors):

  holt_winters_168h_sqrt  statsmodels Holt-Winters, 168 h season (what the flow uses)
  mstl_ets_sqrt           statsforecast MSTL(24, 168) with an AutoETS trend

plus the seasonal-naive baseline, and the fit time per refit (incl. its backtest).

    python -m bench.forecast_quality --peaks 80 20 --weeks 2 3 4
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.seasonal_demand import seasonal_series
from flows.demand.forecast import (
    DAY_H,
    WEEK_H,
    Calibration,
    fit_series,
    forecast,
    stabilise,
    to_interval,
)

Floats = npt.NDArray[np.float64]
Model = Callable[[npt.NDArray[np.int64], int, int], tuple[Floats, Floats, Floats, Floats]]


@dataclass(frozen=True)
class Score:
    wape_vs_rate: float
    mase: float
    coverage_80: float
    coverage_95: float
    fit_ms: float


def flow_model(counts: npt.NDArray[np.int64], first: int, horizon: int) -> tuple[Floats, ...]:
    model = fit_series(counts, first)
    band = forecast(model, counts, first, first + len(counts) + np.arange(horizon))
    return band.predicted, band.lower_80, band.upper_80, band.lower_95, band.upper_95


def mstl_model(counts: npt.NDArray[np.int64], first: int, horizon: int) -> tuple[Floats, ...]:
    """MSTL + AutoETS from statsforecast, calibrated exactly like the flow's model."""
    from statsforecast.models import MSTL, AutoETS

    values = stabilise(counts)

    def mean_at(cut: int) -> Floats:
        m = MSTL(season_length=[DAY_H, WEEK_H], trend_forecaster=AutoETS(model="ZNN"))
        out: Floats = m.forecast(values[:cut], horizon)["mean"]
        return out

    n = len(values)
    origins = [c for c in range(n - horizon, 2 * WEEK_H - 1, -DAY_H)][:7]
    errors = (
        np.concatenate([values[c : c + horizon] - mean_at(c) for c in origins])
        if origins
        else np.empty(0)
    )
    band = to_interval(mean_at(n), Calibration.from_errors(errors))
    return band.predicted, band.lower_80, band.upper_80, band.lower_95, band.upper_95


def naive_model(counts: npt.NDArray[np.int64], first: int, horizon: int) -> tuple[Floats, ...]:
    p = counts[-WEEK_H:][:horizon].astype(np.float64)
    return p, p, p, p, p


def score(model: Callable[..., tuple[Floats, ...]], peak: float, weeks: int, origins: int) -> Score:
    s = seasonal_series(weeks * WEEK_H + origins * DAY_H, peak=peak, seed=11)
    err_rate = total_rate = err = err_naive = 0.0
    in80 = in95 = n = 0
    spent = 0.0
    for o in range(origins):
        cut = weeks * WEEK_H + o * DAY_H
        t0 = time.perf_counter()
        pred, lo80, hi80, lo95, hi95 = model(s.counts[:cut], s.first_hour, DAY_H)
        spent += time.perf_counter() - t0
        actual = s.counts[cut : cut + DAY_H]
        rate = s.rate[cut : cut + DAY_H]
        err_rate += float(np.abs(pred - rate).sum())
        total_rate += float(rate.sum())
        err += float(np.abs(pred - actual).sum())
        err_naive += float(np.abs(s.counts[cut - WEEK_H : cut - WEEK_H + DAY_H] - actual).sum())
        in80 += int(((actual >= lo80) & (actual <= hi80)).sum())
        in95 += int(((actual >= lo95) & (actual <= hi95)).sum())
        n += DAY_H
    return Score(err_rate / total_rate, err / err_naive, in80 / n, in95 / n, spent / origins * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peaks", type=float, nargs="+", default=[80.0, 20.0])
    ap.add_argument("--weeks", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--origins", type=int, default=14)
    ap.add_argument("--no-mstl", action="store_true", help="skip the statsforecast candidate")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    models: list[tuple[str, Callable[..., tuple[Floats, ...]]]] = [
        ("holt_winters_168h_sqrt", flow_model),
        ("seasonal_naive_168h", naive_model),
    ]
    if not args.no_mstl:
        models.insert(1, ("mstl_ets_sqrt", mstl_model))
    print(
        f"{'peak/h':>6} {'weeks':>5}  {'model':<24} {'WAPE(rate)':>10} {'MASE':>6} "
        f"{'cov80':>6} {'cov95':>6} {'fit ms':>7}"
    )
    for peak in args.peaks:
        for weeks in args.weeks:
            for name, model in models:
                r = score(model, peak, weeks, args.origins)
                print(
                    f"{peak:>6.0f} {weeks:>5}  {name:<24} {r.wape_vs_rate:>10.3f} {r.mase:>6.3f} "
                    f"{r.coverage_80:>6.3f} {r.coverage_95:>6.3f} {r.fit_ms:>7.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
