"""The simple forecasters every segment is compared with: seasonal-naive and the
cold-start seasonal mean.

Both remember only the last ``season`` (naive) or 168 (mean) hours in a ring indexed by
absolute hour, so folding in a closed hour is O(1) and their state stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flows.demand.intervals import Floats, Ints

DAY_H = 24
WEEK_H = 168
MODEL_NAIVE_WEEK = "seasonal_naive_168h"
MODEL_NAIVE_DAY = "seasonal_naive_24h"
MODEL_COLD = "seasonal_mean_24h"


def _ring(counts: Floats, first_hour: int, size: int) -> Floats:
    """The last ``size`` counts at slot ``hour % size`` (NaN where no hour was seen)."""
    ring = np.full(size, np.nan)
    tail = counts[-size:]
    start = first_hour + len(counts) - len(tail)
    ring[(start + np.arange(len(tail))) % size] = tail
    return ring


@dataclass
class SeasonalNaive:
    """Next value = the value one season earlier (the latest hour in the same slot)."""

    season: int
    ring: Floats

    @classmethod
    def fit(cls, counts: Floats, first_hour: int, season: int) -> SeasonalNaive:
        return cls(season, _ring(counts, first_hour, season))

    @property
    def name(self) -> str:
        return MODEL_NAIVE_WEEK if self.season == WEEK_H else MODEL_NAIVE_DAY

    @property
    def weekly(self) -> bool:
        return self.season == WEEK_H

    def observe(self, hour: int, count: float) -> None:
        self.ring[hour % self.season] = count

    def expected(self, hours: Ints) -> Floats:
        out = self.ring[hours % self.season]
        mean = float(np.nanmean(self.ring)) if np.isfinite(self.ring).any() else 0.0
        return np.where(np.isfinite(out), out, mean)


@dataclass
class SeasonalMean:
    """Cold start: per hour of day, the mean of its last (up to) seven values.

    An hour of day not seen yet (under a day of history) gets the overall mean.
    """

    ring: Floats  # the last week, slot hour % 168

    name = MODEL_COLD
    weekly = False

    @classmethod
    def fit(cls, counts: Floats, first_hour: int) -> SeasonalMean:
        return cls(_ring(counts, first_hour, WEEK_H))

    def observe(self, hour: int, count: float) -> None:
        self.ring[hour % WEEK_H] = count

    def expected(self, hours: Ints) -> Floats:
        if not np.isfinite(self.ring).any():
            return np.zeros(len(hours))
        by_day = self.ring.reshape(7, DAY_H)  # slots 24*k + h share hour of day h
        seen = np.isfinite(by_day)
        n = seen.sum(axis=0)
        total = np.where(seen, by_day, 0.0).sum(axis=0)
        overall = float(np.nanmean(self.ring))
        profile = np.where(n > 0, total / np.maximum(n, 1), overall)
        return np.asarray(profile[hours % DAY_H], dtype=np.float64)
