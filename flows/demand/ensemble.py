"""The cheap ensemble: the mean of its members' expected counts.

Why: Holt-Winters and the pooled profile err differently (one from too few samples per
hour of the week, the other where days differ in shape), so their mean often beats
both; it costs nothing beyond the members, whose backtest forecasts it reuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from flows.demand.intervals import Floats, Ints

MODEL_ENSEMBLE = "ensemble_mean"


class Forecaster(Protocol):
    """What a segment forecasts with between refits."""

    @property
    def name(self) -> str: ...

    @property
    def weekly(self) -> bool:
        """Whether it knows the weekly cycle (only those forecasts are judged by anomaly
        alerts: a model without it would see every quiet weekend as one)."""
        ...

    def observe(self, hour: int, count: float) -> None:
        """Fold in the count of a closed hour after the fit."""
        ...

    def expected(self, hours: Ints) -> Floats:
        """Expected counts at future absolute hours."""
        ...


@dataclass
class Ensemble:
    members: tuple[Forecaster, ...]

    name = MODEL_ENSEMBLE

    @property
    def weekly(self) -> bool:
        return all(m.weekly for m in self.members)

    def observe(self, hour: int, count: float) -> None:
        for m in self.members:
            m.observe(hour, count)

    def expected(self, hours: Ints) -> Floats:
        return combine([m.expected(hours) for m in self.members])


def combine(forecasts: list[Floats]) -> Floats:
    """The ensemble's forecast from its members' (the same rule as ``expected``)."""
    return np.asarray(np.mean(forecasts, axis=0), dtype=np.float64)
