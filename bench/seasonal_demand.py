"""Seasonal demand generator: hourly Poisson counts with a daily and a weekly pattern.

The true rate is returned with the counts, so forecasts can be scored against what
the noise hides (WAPE vs the rate) as well as against the noisy actuals (MASE,
interval coverage). Shared by the forecast tests and ``bench.forecast_quality``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Monday..Sunday
WEEKLY = (1.0, 1.05, 1.0, 0.95, 0.9, 0.45, 0.35)


def hourly_rate(hours: npt.NDArray[np.int64], peak: float) -> npt.NDArray[np.float64]:
    """Expected events per hour at absolute hour indices (hour 0 = 1970-01-01, a Thursday):
    a morning and an afternoon peak over a night floor of 15 %, weekends lower."""
    hod = hours % 24
    dow = (hours // 24 + 3) % 7
    morning = np.exp(-(((hod - 10) / 2.5) ** 2))
    afternoon = 0.8 * np.exp(-(((hod - 15) / 3.0) ** 2))
    daily = 0.15 + 0.85 * np.maximum(morning, afternoon)
    out: npt.NDArray[np.float64] = peak * daily * np.asarray(WEEKLY)[dow]
    return out


@dataclass(frozen=True)
class SeasonalSeries:
    first_hour: int
    rate: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]


def seasonal_series(
    hours: int, *, peak: float = 80.0, seed: int = 0, first_hour: int = 482_256
) -> SeasonalSeries:
    """``hours`` of counts from ``first_hour`` (default: Monday 2025-01-06 00:00 UTC)."""
    idx = first_hour + np.arange(hours, dtype=np.int64)
    rate = hourly_rate(idx, peak)
    counts = np.random.default_rng(seed).poisson(rate).astype(np.int64)
    return SeasonalSeries(first_hour, rate, counts)
