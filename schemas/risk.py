"""The client churn-risk model: one documented scorer shared by the flows and the API.

How a score is made
-------------------
Every risk *signal* of a client (a complaint, an escalation, a low CSAT rating, an SLA
breach, a reopened ticket) adds a decaying amount to its factor: a signal ``age`` ms old
counts ``2 ** (-age / half_life)``, so it weighs 1 when fresh, 1/2 after one half-life,
1/4 after two. Ages are measured from the client's *scoring time*: the newest event time
seen for that client (event time, never wall time, so a replay scores identically).

Each factor contributes ``weight * decayed_count`` logit points; ``health`` contributes
``health_weight * (100 - latest_health_score) / 100`` (no decay: the latest reading is
the client's current health; nothing when it never reported one). Then::

    z = bias + sum(contributions)
    churn_probability = 1 / (1 + exp(-z))

and the level follows fixed thresholds on the probability::

    low < medium_at <= medium < high_at <= high < critical_at <= critical

All weights are non-negative, so a worse signal never lowers the probability, and decay
(time passing without signals) never raises it. ``score(..., without=...)`` drops factors,
which answers "what if this had not happened" with the very same scorer.

The defaults ship as ``schemas/risk_model.json``; ``RiskModel.from_json`` loads a variant.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.rows import ParallelArrays, UtcDatetime

RiskLevel = Literal["low", "medium", "high", "critical"]
RISK_LEVELS: tuple[RiskLevel, ...] = ("low", "medium", "high", "critical")
COMPLAINT_SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

FACTOR_NAMES: tuple[str, ...] = (
    "complaints_low",
    "complaints_medium",
    "complaints_high",
    "complaints_critical",
    "escalations",
    "low_csat",
    "sla_breaches",
    "reopenings",
    "health",
)
HEALTH_FACTOR = "health"
COUNT_FACTORS: tuple[str, ...] = tuple(f for f in FACTOR_NAMES if f != HEALTH_FACTOR)

DAY_MS = 86_400_000
PROBABILITY_DECIMALS = 6

Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _default_complaint_weights() -> dict[str, float]:
    return {"low": 0.4, "medium": 0.8, "high": 1.5, "critical": 2.5}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RiskThresholds(_Frozen):
    """Probability cut points between levels: ``0 < medium_at < high_at < critical_at < 1``."""

    medium_at: float = Field(0.25, gt=0, lt=1, description="lowest probability rated medium")
    high_at: float = Field(0.5, gt=0, lt=1, description="lowest probability rated high")
    critical_at: float = Field(0.75, gt=0, lt=1, description="lowest probability rated critical")

    @model_validator(mode="after")
    def _increasing(self) -> RiskThresholds:
        if not self.medium_at < self.high_at < self.critical_at:
            raise ValueError("thresholds must satisfy medium_at < high_at < critical_at")
        return self


class RiskFactor(_Frozen):
    """One factor's share of a score, in logit points (what it adds to ``z``)."""

    name: str = Field(
        description="complaints_<severity>, escalations, low_csat, sla_breaches, reopenings "
        "or health"
    )
    contribution: float = Field(description="Logit points the factor adds to the score")


Probability = Annotated[float, Field(ge=0, le=1, description="Modelled churn probability, 0-1")]
Factors = Annotated[list[RiskFactor], Field(description="Factors behind the score, largest first")]


class RiskScore(_Frozen):
    """A scored client: probability, level and the factors behind it (largest first)."""

    churn_probability: Probability
    risk_level: RiskLevel
    factors: Factors


class ClientRisk(_Frozen):
    """One score change of one client: a row of the ``client_risk`` history."""

    risk_id: UUID = Field(description="stable_id('client_risk', tenant, client, version)")
    tenant_id: str
    client_id: str
    version: int = Field(ge=1, description="Risk signals folded in for this client so far")
    scored_at: UtcDatetime = Field(description="Event time the score refers to")
    churn_probability: Probability
    risk_level: RiskLevel
    # stored as two aligned arrays: factor_names, factor_contributions
    factors: Annotated[
        Factors,
        ParallelArrays((("name", "factor_names"), ("contribution", "factor_contributions"))),
    ]
    trigger_event_id: UUID = Field(description="event whose signal produced this score")


class RiskModel(_Frozen):
    """Weights, decay and thresholds of the churn-risk score (see the module docstring)."""

    bias: float = Field(
        -3.0,
        allow_inf_nan=False,
        description="logit offset: the score of a client with no signal (-3.0 -> p = 0.047)",
    )
    half_life_days: float = Field(
        14.0,
        gt=0,
        allow_inf_nan=False,
        description="days after which a signal counts half as much",
    )
    complaint_severity: dict[str, Weight] = Field(
        default_factory=_default_complaint_weights,
        description="logit points per fresh complaint, by severity (low|medium|high|critical)",
    )
    escalation: Weight = Field(1.2, description="logit points per fresh complaint escalation")
    low_csat: Weight = Field(0.7, description="logit points per fresh CSAT rating <= 2")
    sla_breach: Weight = Field(0.6, description="logit points per fresh SLA breach")
    reopen: Weight = Field(0.4, description="logit points per fresh ticket reopening")
    health: Weight = Field(
        3.0,
        description="logit points at health score 0, scaled by (100 - health) / 100 "
        "(latest reading, no decay; nothing before the first reading)",
    )
    thresholds: RiskThresholds = Field(default_factory=RiskThresholds)

    @field_validator("complaint_severity")
    @classmethod
    def _every_severity(cls, v: dict[str, float]) -> dict[str, float]:
        if set(v) != set(COMPLAINT_SEVERITIES):
            raise ValueError(
                f"needs exactly the severities {list(COMPLAINT_SEVERITIES)}, got {sorted(v)}"
            )
        return v

    @classmethod
    def from_json(cls, path: str | Path) -> RiskModel:
        """Load and validate a model file (omitted fields keep their defaults)."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))

    # ---- the parts ------------------------------------------------------------------

    @property
    def half_life_ms(self) -> float:
        return self.half_life_days * DAY_MS

    def decay(self, age_ms: float) -> float:
        """Weight left to a signal ``age_ms`` old: ``2 ** (-age / half_life)``."""
        return math.exp2(-age_ms / self.half_life_ms)

    def weight(self, factor: str) -> float:
        """Logit points of one fresh signal of ``factor`` (of health score 0 for health)."""
        if factor.startswith("complaints_"):
            severity = factor.removeprefix("complaints_")
            if severity in self.complaint_severity:
                return self.complaint_severity[severity]
        fixed = {
            "escalations": self.escalation,
            "low_csat": self.low_csat,
            "sla_breaches": self.sla_breach,
            "reopenings": self.reopen,
            HEALTH_FACTOR: self.health,
        }
        if factor not in fixed:
            raise _unknown([factor])
        return fixed[factor]

    def contributions(
        self, counts: Mapping[str, float], health_score: float | None = None
    ) -> dict[str, float]:
        """Logit points per factor from decayed counts and the latest health score."""
        unknown = set(counts) - set(COUNT_FACTORS)
        if unknown:
            raise _unknown(unknown, COUNT_FACTORS)
        out = {f: self.weight(f) * n for f, n in counts.items()}
        if health_score is not None:
            out[HEALTH_FACTOR] = self.health * (100.0 - health_score) / 100.0
        return out

    @staticmethod
    def probability(z: float) -> float:
        """The logistic ``1 / (1 + exp(-z))``, without overflow for any finite or infinite z."""
        if math.isnan(z):
            raise ValueError("logit is NaN")
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def level(self, p: float) -> RiskLevel:
        """The level of probability ``p`` (non-decreasing in ``p``)."""
        t = self.thresholds
        if p >= t.critical_at:
            return "critical"
        if p >= t.high_at:
            return "high"
        if p >= t.medium_at:
            return "medium"
        return "low"

    def score(self, contributions: Mapping[str, float], without: Collection[str] = ()) -> RiskScore:
        """Probability, level and explaining factors of the given logit contributions.

        ``without`` names factors to leave out (a what-if); zero factors are not listed.
        """
        unknown = (set(contributions) | set(without)) - set(FACTOR_NAMES)
        if unknown:
            raise _unknown(unknown)
        kept = {f: c for f, c in contributions.items() if f not in without}
        z = self.bias + math.fsum(kept.values())
        p = round(self.probability(z), PROBABILITY_DECIMALS)
        rounded = ((f, round(c, PROBABILITY_DECIMALS)) for f, c in kept.items())
        factors = [
            RiskFactor(name=f, contribution=c)
            for f, c in sorted(rounded, key=lambda fc: (-fc[1], fc[0]))
            if c != 0
        ]
        return RiskScore(churn_probability=p, risk_level=self.level(p), factors=factors)


def _unknown(names: Collection[str], known: Collection[str] = FACTOR_NAMES) -> ValueError:
    return ValueError(f"unknown risk factor(s) {sorted(names)}; known: {list(known)}")
