"""The routing scorer (flows/routing/scorer.py): examples, then properties over any
agents, weights and subjects (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.routing.scorer import AgentView, Subject, eligible, factor_names, rank, score
from schemas.routing import DEFAULT_MODEL_FILE, ROUTING_FACTORS, RoutingModel, RoutingWeights

MODEL = RoutingModel()
TICKET = Subject("ticket", "billing", "billing")
MEAN = 4.0


def agent(agent_id: str = "a", **changes: object) -> AgentView:
    base = AgentView(agent_id, "active", "billing", 0, 0.0, 0, 0.0, None)
    return replace(base, **changes)  # type: ignore[arg-type]


def ids(
    agents: list[AgentView], model: RoutingModel = MODEL, subject: Subject = TICKET
) -> list[str]:
    best, _ = rank(model, subject, agents, MEAN, None)
    return [s.agent_id for s in best]


def test_the_shipped_model_file_is_the_documented_default() -> None:
    assert RoutingModel.from_json(DEFAULT_MODEL_FILE) == RoutingModel()


def test_a_bad_model_file_is_refused(tmp_path: object) -> None:
    with pytest.raises(ValueError, match="workload"):
        RoutingModel.model_validate({"weights": {"workload": -1}})
    with pytest.raises(ValueError, match="extra"):
        RoutingModel.model_validate({"wieghts": {}})
    with pytest.raises(ValueError, match="top_n"):
        RoutingModel.model_validate({"top_n": 0})


def test_eligibility_active_idle_always_in_call_if_allowed_offline_never() -> None:
    assert eligible(MODEL, "active")
    assert eligible(MODEL, "idle")
    assert not eligible(MODEL, "in_call")
    assert not eligible(MODEL, "offline")
    assert not eligible(MODEL, None)  # no status seen yet
    calls = MODEL.model_copy(update={"in_call_eligible": True})
    assert eligible(calls, "in_call")
    assert not eligible(calls, "offline")


def test_the_overloaded_agent_ranks_below_the_free_one() -> None:
    assert ids([agent("busy", open_tickets=4), agent("free")]) == ["free", "busy"]


def test_the_category_expert_ranks_above_the_novice() -> None:
    assert ids([agent("novice"), agent("expert", experience=6.0)]) == ["expert", "novice"]


def test_offline_and_unknown_agents_are_absent_and_ties_go_to_the_smaller_id() -> None:
    got = ids([agent("z"), agent("off", status="offline"), agent("b"), agent("n", status=None)])
    assert got == ["b", "z"]


def test_in_call_agents_only_with_the_model_allowing_them_and_then_below() -> None:
    agents = [agent("call", status="in_call"), agent("idle", status="idle")]
    assert ids(agents) == ["idle"]
    allowed = MODEL.model_copy(update={"in_call_eligible": True})
    assert ids(agents, allowed) == ["idle", "call"]


def test_few_surveys_are_shrunk_toward_the_tenant_mean() -> None:
    lucky = agent("lucky", csat_sum=5.0, csat_count=1)  # one 5-star survey
    steady = agent("steady", csat_sum=48 * 4.8, csat_count=48)  # 4.8 over 48 surveys
    assert ids([lucky, steady]) == ["steady", "lucky"]
    s = score(MODEL, TICKET, lucky, MEAN, None)
    assert s is not None
    # (5 + 5 * 4) / (1 + 5) - 4 = 1/6 star above the mean, 1.5 points a star
    assert s.contributions[ROUTING_FACTORS.index("csat")] == pytest.approx(1.5 / 6, abs=1e-6)


def test_the_queue_team_counts_only_where_the_tenant_maps_the_queue() -> None:
    other = agent("other", team="technical")
    same = agent("same", team="billing", open_tickets=0)
    assert ids([other, same]) == ["other", "same"]  # no mapping: a tie, smaller id
    best, _ = rank(MODEL, TICKET, [other, same], MEAN, "billing")
    assert [s.agent_id for s in best] == ["same", "other"]
    assert factor_names(MODEL, False) == ("workload", "csat", "experience", "fairness")
    assert "team_match" in factor_names(MODEL, True)


def test_fairness_prefers_the_agent_waiting_longest() -> None:
    recent = agent("recent", idle_s=60.0)
    waiting = agent("waiting", idle_s=3000.0)
    assert ids([recent, waiting]) == ["waiting", "recent"]


def test_high_and_critical_complaints_weigh_csat_and_experience_more() -> None:
    # free but weak vs loaded specialist with the best CSAT
    free = agent("free", csat_sum=10 * 3.0, csat_count=10)
    star = agent("star", open_tickets=4, experience=6.0, csat_sum=40 * 4.9, csat_count=40)
    low = Subject("complaint", "billing", "", "low")
    critical = Subject("complaint", "billing", "", "critical")
    assert ids([free, star], subject=low) == ["free", "star"]
    assert ids([free, star], subject=critical) == ["star", "free"]


def test_top_n_and_the_eligible_count() -> None:
    agents = [agent(f"a{i}", open_tickets=i) for i in range(6)]
    best, n = rank(MODEL, TICKET, agents, MEAN, None)
    assert [s.agent_id for s in best] == ["a0", "a1", "a2"]
    assert n == 6
    assert rank(MODEL, TICKET, [agent(status="offline")], MEAN, None) == ([], 0)


# ---- properties ------------------------------------------------------------------------

statuses = st.sampled_from(["active", "idle", "in_call", "offline", None])
finite = st.floats(0, 1e4, allow_nan=False)
views = st.builds(
    AgentView,
    agent_id=st.text("abcdef", min_size=1, max_size=4),
    status=statuses,
    team=st.sampled_from(["billing", "technical"]),
    open_tickets=st.integers(0, 500),
    csat_sum=st.just(0.0),
    csat_count=st.integers(0, 1000),
    experience=finite,
    idle_s=st.none() | finite,
).flatmap(lambda a: st.floats(1, 5).map(lambda m: replace(a, csat_sum=m * a.csat_count)))
weights = st.builds(
    RoutingWeights,
    workload=finite,
    csat=finite,
    experience=finite,
    team_match=finite,
    fairness=finite,
    in_call=finite,
)
models = st.builds(
    RoutingModel,
    weights=weights,
    in_call_eligible=st.booleans(),
    csat_prior_surveys=st.floats(0, 100),
    top_n=st.integers(1, 5),
)
subjects = st.builds(
    Subject,
    subject_type=st.sampled_from(["ticket", "complaint"]),
    category=st.just("billing"),
    queue=st.sampled_from(["", "billing"]),
    severity=st.sampled_from(["", "low", "high", "critical"]),
)
means = st.floats(1, 5)
teams = st.none() | st.sampled_from(["billing", "technical"])


def _agent_id(a: AgentView) -> str:
    return a.agent_id


@given(models, subjects, views, means, teams, st.integers(1, 100))
def test_more_open_work_never_raises_a_score(
    model: RoutingModel, subject: Subject, a: AgentView, mean: float, team: str | None, more: int
) -> None:
    before = score(model, subject, a, mean, team)
    after = score(model, subject, replace(a, open_tickets=a.open_tickets + more), mean, team)
    assert (before is None) == (after is None)
    if before is not None and after is not None:
        assert after.score <= before.score


@given(models, subjects, views, means, teams, st.floats(0, 4))
def test_a_better_csat_never_lowers_a_score(
    model: RoutingModel, subject: Subject, a: AgentView, mean: float, team: str | None, up: float
) -> None:
    better_sum = min(a.csat_sum + up * a.csat_count, 5.0 * a.csat_count)
    before = score(model, subject, a, mean, team)
    after = score(model, subject, replace(a, csat_sum=better_sum), mean, team)
    if before is not None and after is not None:
        assert after.score >= before.score


@given(models, subjects, views, means, teams, finite)
def test_more_experience_never_lowers_a_score(
    model: RoutingModel, subject: Subject, a: AgentView, mean: float, team: str | None, more: float
) -> None:
    before = score(model, subject, a, mean, team)
    after = score(model, subject, replace(a, experience=a.experience + more), mean, team)
    if before is not None and after is not None:
        assert after.score >= before.score


@given(models, subjects, st.lists(views, max_size=12, unique_by=_agent_id), means, teams)
def test_offline_agents_never_appear_and_the_ranking_is_sorted(
    model: RoutingModel, subject: Subject, agents: list[AgentView], mean: float, team: str | None
) -> None:
    best, n = rank(model, subject, agents, mean, team)
    by_id = {a.agent_id: a for a in agents}
    assert len(best) == min(model.top_n, n)
    for s in best:
        status = by_id[s.agent_id].status
        assert status in ("active", "idle") or (status == "in_call" and model.in_call_eligible)
        assert s.agent_id in by_id
    keys = [(-s.score, s.agent_id) for s in best]
    assert keys == sorted(keys)
    for s in best:  # the score explains itself: its factors add up to it
        assert s.score == pytest.approx(sum(s.contributions), abs=1e-5)
