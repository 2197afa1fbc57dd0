"""The pooled daily-profile model: day volume x intraday shape, a Poisson decomposition.

Why: contact-centre demand is a day's volume spread over the day by a shape that all
weekdays share (the classical workforce-management split, and what the simulator and
the benchmark generators produce). Learning each of the 168 hours of the week on its own
(Holt-Winters, seasonal-naive) uses ~4 samples per hour in four weeks; pooling the shape
over every weekday uses ~20, and the day-of-week effect rests on whole-day totals, which
are hundreds of events each. The rate of hour ``t`` is

    level x day_factor[weekday(t)] x shape[day type(t), hour of day(t)]

the maximum-likelihood split of a Poisson table (days x hours) into a day effect and an
hour effect, fitted in closed form:

* ``shape`` per day type (Monday-Friday, weekend): hour totals over day totals, each
  shrunk towards the pooled shape by ``shape_prior_days`` days of its own volume
  (weekends are few, and usually shaped like weekdays);
* ``day_factor``: each day's total over its local level (the median of the deseasonalised
  totals within +-3 days), averaged per weekday and shrunk towards its day type's mean;
* ``level``: an exponentially weighted mean of recent deseasonalised day totals
  (half-life ``level_half_life_d`` days, each day weighted by its expected volume), from
  the last level shift on: the split of the recent days into an old and a new level
  with the largest Poisson likelihood gain, when that gain is clear and the level moved
  by over 12 %, so a shift is adopted after two days instead of fading in;
* a day far off its local level (both in ratio and in Poisson terms: a holiday, an
  outage) is left out of all three, so one odd day does not bend a weekday's profile. A
  deviation at the end of the history counts as odd until the following days confirm it
  (the median then follows them): a shift is adopted after two or three days.

Only whole UTC days are used; a refit happens at midnight on the default grid. Between
refits the forecast stays as fitted (``observe`` is a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flows.demand.intervals import Floats, Ints

DAY_H = 24
MODEL_PROFILE = "daily_profile_poisson"
MIN_DAYS = 7  # every weekday seen once


@dataclass(frozen=True)
class ProfileParams:
    """Set before the benchmark and checked on its tuning seeds only, unchanged since
    (``bench/forecast_quality.py``)."""

    level_half_life_d: float = 3.0
    shape_prior_days: float = 3.0
    factor_prior_days: float = 1.0
    odd_log_ratio: float = 0.25  # |log(total / expected)| beyond this, and
    odd_z: float = 3.0  # this many Poisson standard deviations: an odd day
    shift_min_days: int = 2  # a level shift needs this many days to be adopted
    shift_window_d: int = 21  # looked for in this many last good days
    shift_min_gain: float = 12.0  # log-likelihood gain of two levels over one
    shift_min_ratio: float = 1.12  # and the level moved at least this much either way


def _weekday(day: Ints) -> Ints:
    """Monday = 0 for absolute day indices (day 0 = 1970-01-01, a Thursday)."""
    return np.asarray((day + 3) % 7, dtype=np.int64)


def _weekend(dow: Ints) -> Ints:
    return np.asarray(dow >= 5, dtype=np.int64)


def _window_median(x: Floats, radius: int) -> Floats:
    """Median of each ``2 * radius + 1`` window centred on each element, NaNs skipped
    (NaN where a window has none)."""
    pad = np.full(radius, np.nan)
    windows = np.sort(
        np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, x, pad]), 2 * radius + 1),
        axis=1,
    )  # NaNs sort last
    k = np.isfinite(windows).sum(axis=1)
    rows = np.arange(len(x))
    lo = windows[rows, np.maximum(k - 1, 0) // 2]
    hi = windows[rows, np.maximum(k, 1) // 2 * (k > 0)]
    out: Floats = np.where(k > 0, (lo + hi) / 2.0, np.nan)
    return out


def _local_median(x: Floats, ok: npt.NDArray[np.bool_], radius: int = 3) -> Floats:
    """Per day, the median of ``x`` over the good days within ``radius`` days (over all
    of them where none is good)."""
    good = _window_median(np.where(ok, x, np.nan), radius)
    out: Floats = np.where(np.isnan(good), _window_median(x, radius), good)
    return out


def _level_shift(
    totals: Floats, factor: Floats, ok: npt.NDArray[np.bool_], p: ProfileParams
) -> int:
    """The first day of the current level: the split of the good days into an old and a
    new level (the new one at least ``shift_min_days`` long, in the last
    ``shift_window_d`` days) with the largest Poisson likelihood gain, if that gain
    exceeds ``shift_min_gain`` and the level moved by more than ``shift_min_ratio``;
    else 0 (one level throughout)."""
    idx = np.flatnonzero(ok)
    if len(idx) < 2 * p.shift_min_days:
        return 0
    t, f = totals[idx], factor[idx]

    def loglik(tt: Floats, ff: Floats) -> float:
        rate = tt.sum() / ff.sum()
        if rate <= 0:
            return 0.0
        return float((tt * np.log(rate)).sum() - rate * ff.sum())

    whole = loglik(t, f)
    best, best_gain = 0, p.shift_min_gain
    first = max(p.shift_min_days, len(idx) - p.shift_window_d)
    for k in range(first, len(idx) - p.shift_min_days + 1):
        old = t[:k].sum() / f[:k].sum()
        new = t[k:].sum() / f[k:].sum()
        if old <= 0 or abs(np.log(max(new, 1e-9) / old)) < np.log(p.shift_min_ratio):
            continue
        gain = loglik(t[:k], f[:k]) + loglik(t[k:], f[k:]) - whole
        if gain > best_gain:
            best, best_gain = int(idx[k]), gain
    return best


@dataclass
class DailyProfile:
    level: float  # deseasonalised events per day, now
    day_factor: Floats  # (7,) Monday..Sunday, mean 1
    shape: Floats  # (2, 24) weekday / weekend shares of a day's events, rows sum to 1

    name = MODEL_PROFILE
    weekly = True

    def observe(self, hour: int, count: float) -> None:
        """Nothing to fold in between refits (see the module docstring)."""

    def expected(self, hours: Ints) -> Floats:
        dow = _weekday(hours // DAY_H)
        out = self.level * self.day_factor[dow] * self.shape[_weekend(dow), hours % DAY_H]
        return np.asarray(out, dtype=np.float64)


def fit_profile(
    counts: Floats, first_hour: int, params: ProfileParams | None = None
) -> DailyProfile:
    """Fit on the whole UTC days of ``counts`` (hour ``first_hour`` onwards)."""
    p = params or ProfileParams()
    first_day = -(-first_hour // DAY_H)
    end_day = (first_hour + len(counts)) // DAY_H
    days = end_day - first_day
    if days < MIN_DAYS:
        raise ValueError(f"need {MIN_DAYS} whole days of history, got {max(days, 0)}")
    start = first_day * DAY_H - first_hour
    table = np.asarray(counts[start : start + days * DAY_H], dtype=np.float64).reshape(days, DAY_H)
    totals = table.sum(axis=1)
    dow = _weekday(first_day + np.arange(days, dtype=np.int64))
    weekend = _weekend(dow)
    if totals.sum() <= 0:
        return DailyProfile(0.0, np.ones(7), np.full((2, DAY_H), 1.0 / DAY_H))

    # day factors and odd days, alternately (each needs the other)
    # start from each weekday's median total, so that a holiday next to a weekend (four
    # quiet days in a row) is odd against its weekday from the first round on
    factor = np.ones(7)
    for d in range(7):
        if (dow == d).any():
            factor[d] = max(float(np.median(totals[dow == d])), 1e-6)
    factor /= factor.mean()
    ok = np.ones(days, dtype=bool)
    for _ in range(3):
        local = np.maximum(_local_median(totals / factor[dow], ok), 1e-9)
        ratio = totals / local
        type_mean = np.ones(2)
        for t in (0, 1):
            sel = ok & (weekend == t)
            if sel.any():
                type_mean[t] = float(ratio[sel].mean())
        for d in range(7):
            sel = ok & (dow == d)
            prior = type_mean[int(d >= 5)]
            factor[d] = (ratio[sel].sum() + p.factor_prior_days * prior) / (
                sel.sum() + p.factor_prior_days
            )
        factor = np.maximum(factor, 1e-6)
        factor /= factor.mean()
        expect = local * factor[dow]
        ok = ~(
            (np.abs(np.log((totals + 1.0) / (expect + 1.0))) > p.odd_log_ratio)
            & (np.abs(totals - expect) > p.odd_z * np.sqrt(expect + 1.0))
        )

    # level: recent deseasonalised totals since the last level shift, weighted by
    # recency and expected volume
    since = _level_shift(totals, factor[dow], ok, p)
    age = (days - 1 - np.arange(days)).astype(np.float64)
    weight = (
        ok * (np.arange(days) >= since) * factor[dow] * np.power(2.0, -age / p.level_half_life_d)
    )
    if weight.sum() <= 0:
        weight = factor[dow] * np.power(2.0, -age / p.level_half_life_d)
    level = float((weight * totals / factor[dow]).sum() / weight.sum())

    # intraday shape per day type, the weekend's shrunk towards the pooled one
    good = table[ok] if ok.any() else table
    good_totals = good.sum()
    pooled = good.sum(axis=0) / good_totals if good_totals > 0 else np.full(DAY_H, 1 / DAY_H)
    shape = np.empty((2, DAY_H))
    for t in (0, 1):
        sel = ok & (weekend == t)
        volume = float(totals[sel].sum())
        prior = p.shape_prior_days * (volume / sel.sum() if sel.any() else 0.0)
        if volume + prior <= 0:
            shape[t] = pooled
            continue
        shape[t] = (table[sel].sum(axis=0) + prior * pooled) / (volume + prior)
    return DailyProfile(level, factor, shape)
