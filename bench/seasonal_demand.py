"""Seasonal demand generators: hourly Poisson counts with a daily and a weekly pattern.

The true rate is returned with the counts, so forecasts can be scored against what the
noise hides (WAPE vs the rate) as well as against the noisy actuals (MASE, interval
coverage). Shared by the forecast tests and ``bench.forecast_quality``.

``seasonal_series`` is the fixed pattern the unit tests started with; ``scenario``
draws a harder one per seed: the peak hours, the afternoon peak and the night floor,
each weekday's volume, a weekend factor in 0.3-1.0, and optionally holidays (weekdays
at weekend level) or a level shift in the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

# Monday..Sunday
WEEKLY = (1.0, 1.05, 1.0, 0.95, 0.9, 0.45, 0.35)
SCENARIO_KINDS = ("plain", "holiday", "shift")


@dataclass(frozen=True)
class Pattern:
    """A demand pattern: the rate of an hour is ``peak x daily(hour of day) x
    weekly[weekday]`` (x ``shift`` from ``shift_hour`` on; holidays at ``holiday_level``)."""

    peak: float
    weekly: tuple[float, ...] = WEEKLY
    morning_h: float = 10.0
    morning_width: float = 2.5
    afternoon_h: float = 15.0
    afternoon_width: float = 3.0
    afternoon: float = 0.8
    night: float = 0.15
    holidays: tuple[int, ...] = ()  # absolute day indices running at holiday_level
    holiday_level: float = 0.45
    shift_hour: int | None = None
    shift: float = 1.0
    label: str = field(default="plain", compare=False)

    def rate(self, hours: npt.NDArray[np.int64]) -> Floats:
        """Expected events per hour at absolute hour indices (hour 0 = 1970-01-01, a
        Thursday)."""
        hod = hours % 24
        day = hours // 24
        dow = (day + 3) % 7
        morning = np.exp(-(((hod - self.morning_h) / self.morning_width) ** 2))
        after = self.afternoon * np.exp(-(((hod - self.afternoon_h) / self.afternoon_width) ** 2))
        daily = self.night + (1.0 - self.night) * np.maximum(morning, after)
        week = np.asarray(self.weekly)[dow]
        if self.holidays:
            week = np.where(np.isin(day, self.holidays), self.holiday_level, week)
        out: Floats = self.peak * daily * week
        if self.shift_hour is not None:
            out = np.where(hours >= self.shift_hour, out * self.shift, out)
        return out


def hourly_rate(hours: npt.NDArray[np.int64], peak: float) -> Floats:
    """The fixed pattern: a morning and an afternoon peak over a night floor of 15 %,
    weekends lower."""
    return Pattern(peak).rate(hours)


@dataclass(frozen=True)
class SeasonalSeries:
    first_hour: int
    rate: Floats
    counts: npt.NDArray[np.int64]
    pattern: Pattern | None = None


FIRST_HOUR = 482_256  # Monday 2025-01-06 00:00 UTC


def series_of(
    pattern: Pattern, hours: int, seed: int, first_hour: int = FIRST_HOUR
) -> SeasonalSeries:
    idx = first_hour + np.arange(hours, dtype=np.int64)
    rate = pattern.rate(idx)
    counts = np.random.default_rng(seed).poisson(rate).astype(np.int64)
    return SeasonalSeries(first_hour, rate, counts, pattern)


def seasonal_series(
    hours: int, *, peak: float = 80.0, seed: int = 0, first_hour: int = FIRST_HOUR
) -> SeasonalSeries:
    """``hours`` of counts of the fixed pattern from ``first_hour`` (default: Monday
    2025-01-06 00:00 UTC)."""
    return series_of(Pattern(peak), hours, seed, first_hour)


def scenario(
    kind: str, *, peak: float, history_h: int, seed: int, first_hour: int = FIRST_HOUR
) -> Pattern:
    """A random pattern of ``kind`` (``plain``, ``holiday``, ``shift``) for a series whose
    forecasts start after ``history_h`` hours; its peak weekday hour is about ``peak``.

    Holidays (two weekdays at the weekend's level) and the level shift (x0.6-0.75 or
    x1.35-1.6) fall in the last two weeks of the history: no model is given a calendar,
    so a holiday in the scored days could only be missed by all of them alike.
    """
    if kind not in SCENARIO_KINDS:
        raise ValueError(f"kind must be one of {SCENARIO_KINDS}")
    rng = np.random.default_rng([seed, int(peak * 10), history_h, SCENARIO_KINDS.index(kind)])
    weekdays = rng.uniform(0.9, 1.1, 5)
    weekdays /= weekdays.max()
    weekend = float(rng.uniform(0.3, 1.0))
    sunday = weekend * float(rng.uniform(0.75, 1.0))
    first_day = first_hour // 24
    end_day = (first_hour + history_h) // 24
    holidays: tuple[int, ...] = ()
    shift_hour: int | None = None
    shift = 1.0
    if kind == "holiday":
        days = [d for d in range(end_day - 14, end_day) if (d + 3) % 7 < 5 and d >= first_day]
        holidays = tuple(sorted(int(d) for d in rng.choice(days, 2, replace=False)))
    elif kind == "shift":
        shift_hour = (end_day - int(rng.integers(2, 10))) * 24
        shift = float(rng.uniform(1.35, 1.6) if rng.random() < 0.5 else rng.uniform(0.6, 0.75))
    return Pattern(
        peak=peak,
        weekly=(*weekdays.tolist(), weekend, sunday),
        morning_h=float(rng.uniform(9.0, 11.0)),
        morning_width=float(rng.uniform(2.0, 3.0)),
        afternoon_h=float(rng.uniform(14.0, 16.5)),
        afternoon_width=float(rng.uniform(2.0, 3.5)),
        afternoon=float(rng.uniform(0.6, 1.0)),
        night=float(rng.uniform(0.1, 0.2)),
        holidays=holidays,
        holiday_level=weekend,
        shift_hour=shift_hour,
        shift=shift,
        label=kind,
    )
