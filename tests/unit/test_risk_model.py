"""schemas.risk: the churn-risk scorer (weights, decay, logistic, levels, what-if)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.risk import (
    COUNT_FACTORS,
    FACTOR_NAMES,
    RISK_LEVELS,
    RiskFactor,
    RiskModel,
    RiskThresholds,
)

REPO = Path(__file__).resolve().parents[2]
MODEL = RiskModel()


def logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# ---- strategies -------------------------------------------------------------------------

weights = st.floats(min_value=0, max_value=10, allow_nan=False)
counts = st.floats(min_value=0, max_value=50, allow_nan=False)
health_scores = st.floats(min_value=0, max_value=100, allow_nan=False)


@st.composite
def models(draw: st.DrawFn) -> RiskModel:
    cuts = sorted(draw(st.lists(st.floats(0.01, 0.99), min_size=3, max_size=3, unique=True)))
    if not cuts[0] < cuts[1] < cuts[2]:
        cuts = [0.25, 0.5, 0.75]
    return RiskModel(
        bias=draw(st.floats(-10, 5)),
        half_life_days=draw(st.floats(0.1, 365)),
        complaint_severity={s: draw(weights) for s in ("low", "medium", "high", "critical")},
        escalation=draw(weights),
        low_csat=draw(weights),
        sla_breach=draw(weights),
        reopen=draw(weights),
        health=draw(weights),
        thresholds=RiskThresholds(medium_at=cuts[0], high_at=cuts[1], critical_at=cuts[2]),
    )


contributions = st.dictionaries(st.sampled_from(FACTOR_NAMES), st.floats(0, 20))


# ---- the defaults and their file ----------------------------------------------------------


def test_default_numbers() -> None:
    m = RiskModel()
    assert m.bias == -3.0
    assert m.half_life_days == 14.0
    assert m.complaint_severity == {"low": 0.4, "medium": 0.8, "high": 1.5, "critical": 2.5}
    assert (m.escalation, m.low_csat, m.sla_breach, m.reopen, m.health) == (
        1.2,
        0.7,
        0.6,
        0.4,
        3.0,
    )
    assert (m.thresholds.medium_at, m.thresholds.high_at, m.thresholds.critical_at) == (
        0.25,
        0.5,
        0.75,
    )


def test_shipped_file_holds_the_defaults() -> None:
    assert RiskModel.from_json(REPO / "schemas" / "risk_model.json") == RiskModel()


def test_from_json_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"bias": -2.0, "thresholds": {"critical_at": 0.9}}))
    m = RiskModel.from_json(path)
    assert m.bias == -2.0
    assert m.thresholds == RiskThresholds(medium_at=0.25, high_at=0.5, critical_at=0.9)
    assert m.health == 3.0


@pytest.mark.parametrize(
    "bad",
    [
        {"escalation": -0.1},
        {"health": float("nan")},
        {"half_life_days": 0},
        {"half_life_days": -1},
        {"complaint_severity": {"low": 0.4, "medium": 0.8, "high": 1.5}},
        {"complaint_severity": {"low": 0.4, "medium": 0.8, "high": 1.5, "critical": -1}},
        {"complaint_severity": {"low": 1, "medium": 1, "high": 1, "critical": 1, "x": 1}},
        {"thresholds": {"medium_at": 0.5, "high_at": 0.5, "critical_at": 0.75}},
        {"thresholds": {"medium_at": 0.6, "high_at": 0.5, "critical_at": 0.75}},
        {"thresholds": {"medium_at": 0.25, "high_at": 0.5, "critical_at": 1.0}},
        {"thresholds": {"medium_at": 0.0, "high_at": 0.5, "critical_at": 0.75}},
        {"sla_breach_weight": 1.0},  # a typo is an error, not a silent default
    ],
)
def test_invalid_models_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RiskModel.model_validate(bad)


def test_model_is_frozen() -> None:
    with pytest.raises(ValidationError):
        MODEL.bias = 0.0  # type: ignore[misc]


# ---- the parts ----------------------------------------------------------------------------


def test_decay_halves_every_half_life() -> None:
    day = 86_400_000
    assert MODEL.decay(0) == 1.0
    assert MODEL.decay(14 * day) == 0.5
    assert MODEL.decay(28 * day) == 0.25
    assert MODEL.decay(7 * day) == pytest.approx(2**-0.5)


def test_weights_per_factor() -> None:
    assert [MODEL.weight(f) for f in FACTOR_NAMES] == [0.4, 0.8, 1.5, 2.5, 1.2, 0.7, 0.6, 0.4, 3.0]
    with pytest.raises(ValueError, match="complaints_urgent"):
        MODEL.weight("complaints_urgent")


def test_contributions_scale_counts_and_health() -> None:
    got = MODEL.contributions({"complaints_high": 2.0, "reopenings": 0.5}, health_score=40.0)
    assert got == {"complaints_high": 3.0, "reopenings": 0.2, "health": pytest.approx(1.8)}
    assert MODEL.contributions({}) == {}  # never reported health: no health factor
    assert MODEL.contributions({}, health_score=100.0) == {"health": 0.0}
    with pytest.raises(ValueError, match="known"):
        MODEL.contributions({"health": 1.0})  # health is a score, not a count


@pytest.mark.parametrize("z", [-1000.0, -50.0, -1.5, 0.0, 1.5, 50.0, 1000.0])
def test_probability_is_the_logistic_without_overflow(z: float) -> None:
    p = RiskModel.probability(z)
    assert 0.0 <= p <= 1.0
    if abs(z) < 700:
        assert p == pytest.approx(logistic(z), rel=1e-12, abs=1e-300)
    assert RiskModel.probability(float("inf")) == 1.0
    assert RiskModel.probability(float("-inf")) == 0.0


def test_probability_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        RiskModel.probability(float("nan"))


@pytest.mark.parametrize(
    ("p", "level"),
    [
        (0.0, "low"),
        (0.249999, "low"),
        (0.25, "medium"),
        (0.499999, "medium"),
        (0.5, "high"),
        (0.749999, "high"),
        (0.75, "critical"),
        (1.0, "critical"),
    ],
)
def test_level_thresholds(p: float, level: str) -> None:
    assert MODEL.level(p) == level


# ---- scoring -------------------------------------------------------------------------------


def test_no_signal_scores_the_bias() -> None:
    s = MODEL.score({})
    assert s.churn_probability == round(logistic(-3.0), 6) == 0.047426
    assert s.risk_level == "low"
    assert s.factors == []


def test_one_fresh_high_complaint() -> None:
    # z = bias + 1.5 = -1.5
    s = MODEL.score(MODEL.contributions({"complaints_high": 1.0}))
    assert s.churn_probability == round(logistic(-1.5), 6) == 0.182426
    assert s.risk_level == "low"
    assert s.factors == [RiskFactor(name="complaints_high", contribution=1.5)]


def test_hand_computed_mix() -> None:
    # critical complaint 2.5 + escalation 1.2 + health 20 -> 3.0 * 0.8 = 2.4; z = 3.1
    contrib = MODEL.contributions({"complaints_critical": 1.0, "escalations": 1.0}, 20.0)
    s = MODEL.score(contrib)
    assert s.churn_probability == round(logistic(3.1), 6) == 0.956893
    assert s.risk_level == "critical"
    assert [(f.name, f.contribution) for f in s.factors] == [
        ("complaints_critical", 2.5),
        ("health", 2.4),
        ("escalations", 1.2),
    ]


def test_factors_sorted_largest_first_zero_omitted_rounded() -> None:
    s = MODEL.score({"low_csat": 0.1234567891, "reopenings": 0.0, "health": 0.9, "escalations": 0})
    assert [(f.name, f.contribution) for f in s.factors] == [
        ("health", 0.9),
        ("low_csat", 0.123457),
    ]


def test_ties_are_ordered_by_name() -> None:
    s = MODEL.score({"reopenings": 0.4, "complaints_low": 0.4})
    assert [f.name for f in s.factors] == ["complaints_low", "reopenings"]


def test_what_if_without_drops_factors() -> None:
    contrib = {"complaints_critical": 2.5, "escalations": 1.2}
    s = MODEL.score(contrib, without=["complaints_critical"])
    assert s.churn_probability == round(logistic(-3.0 + 1.2), 6)
    assert [f.name for f in s.factors] == ["escalations"]
    assert MODEL.score(contrib, without=FACTOR_NAMES) == MODEL.score({})


def test_unknown_factor_names_list_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"known: .*complaints_low.*health") as err:
        MODEL.score({"escalations": 1.0}, without=["escalation"])
    assert "'escalation'" in str(err.value)
    with pytest.raises(ValueError, match="unknown risk factor"):
        MODEL.score({"churn": 1.0})


# ---- properties ----------------------------------------------------------------------------

_WEIGHT_FIELD = {
    "escalations": "escalation",
    "low_csat": "low_csat",
    "sla_breaches": "sla_breach",
    "reopenings": "reopen",
    "health": "health",
}


def _zero_weights(model: RiskModel, factors: set[str]) -> RiskModel:
    severity = dict(model.complaint_severity)
    update: dict[str, object] = {}
    for f in factors:
        if f.startswith("complaints_"):
            severity[f.removeprefix("complaints_")] = 0.0
        else:
            update[_WEIGHT_FIELD[f]] = 0.0
    update["complaint_severity"] = severity
    return RiskModel.model_validate({**model.model_dump(), **update})


@settings(max_examples=150, deadline=None)
@given(
    models(),
    st.dictionaries(st.sampled_from(COUNT_FACTORS), counts),
    st.none() | health_scores,
    st.sets(st.sampled_from(FACTOR_NAMES)),
)
def test_what_if_equals_the_score_with_those_weights_zero(
    model: RiskModel, amounts: dict[str, float], health: float | None, without: set[str]
) -> None:
    what_if = model.score(model.contributions(amounts, health), without=without)
    zeroed = _zero_weights(model, without)
    assert what_if == zeroed.score(zeroed.contributions(amounts, health))


@settings(max_examples=200, deadline=None)
@given(models(), contributions, st.floats(-1e6, 1e6))
def test_probability_in_unit_interval_and_level_matches(
    model: RiskModel, contrib: dict[str, float], z: float
) -> None:
    assert 0.0 <= model.probability(z) <= 1.0
    s = model.score(contrib)
    assert 0.0 <= s.churn_probability <= 1.0
    assert s.risk_level == model.level(s.churn_probability)


@settings(max_examples=200, deadline=None)
@given(models(), st.floats(0, 1), st.floats(0, 1))
def test_levels_are_monotone_in_probability(model: RiskModel, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert RISK_LEVELS.index(model.level(lo)) <= RISK_LEVELS.index(model.level(hi))


@settings(max_examples=200, deadline=None)
@given(st.floats(-800, 800), st.floats(-800, 800))
def test_probability_is_monotone(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert RiskModel.probability(lo) <= RiskModel.probability(hi)


@settings(max_examples=200, deadline=None)
@given(models(), contributions, st.sampled_from(FACTOR_NAMES), st.floats(0, 20))
def test_more_of_any_factor_never_lowers_the_score(
    model: RiskModel, contrib: dict[str, float], factor: str, extra: float
) -> None:
    worse = dict(contrib)
    worse[factor] = worse.get(factor, 0.0) + extra
    before, after = model.score(contrib), model.score(worse)
    assert after.churn_probability >= before.churn_probability
    assert RISK_LEVELS.index(after.risk_level) >= RISK_LEVELS.index(before.risk_level)


@settings(max_examples=200, deadline=None)
@given(
    models(),
    st.dictionaries(st.sampled_from(COUNT_FACTORS), counts),
    health_scores,
    health_scores,
)
def test_lower_health_never_lowers_the_score(
    model: RiskModel, amounts: dict[str, float], h1: float, h2: float
) -> None:
    worse, better = sorted((h1, h2))
    assert (
        model.score(model.contributions(amounts, worse)).churn_probability
        >= model.score(model.contributions(amounts, better)).churn_probability
    )
