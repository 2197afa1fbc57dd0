"""The routing scorer: pure functions of an agent's figures at one instant.

What the factors mean and why they are shaped so is documented with the model
(:mod:`schemas.routing`); this module only computes them, so the flow, the simulator's
assigner and the property tests all rank with the very same code.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from schemas.routing import ROUTING_FACTORS, SCORE_DECIMALS, RoutingModel, SubjectType

ELIGIBLE = frozenset({"active", "idle"})


@dataclass(frozen=True, slots=True)
class Subject:
    """What is being routed: a new ticket or complaint."""

    subject_type: SubjectType
    category: str
    queue: str = ""
    severity: str = ""


@dataclass(frozen=True, slots=True)
class AgentView:
    """One agent's figures at the instant of a recommendation."""

    agent_id: str
    status: str | None  # latest status in event time; None before the first
    team: str
    open_tickets: int
    csat_sum: float  # ratings of the CSAT window
    csat_count: int
    experience: float  # decayed resolved tickets of the subject's category
    idle_s: float | None  # since the last assignment; None: never assigned


@dataclass(frozen=True, slots=True)
class Scored:
    """An agent's score and its factors' points, in ``ROUTING_FACTORS`` order."""

    agent_id: str
    score: float
    contributions: tuple[float, ...]


def eligible(model: RoutingModel, status: str | None) -> bool:
    """``active``/``idle`` always; ``in_call`` if the model allows; never ``offline``."""
    return status in ELIGIBLE or (status == "in_call" and model.in_call_eligible)


def shrunk_csat(model: RoutingModel, csat_sum: float, csat_count: int, tenant_mean: float) -> float:
    """The agent's mean CSAT pulled toward the tenant mean by ``csat_prior_surveys``."""
    k = model.csat_prior_surveys
    if csat_count + k <= 0:
        return tenant_mean
    return (csat_sum + k * tenant_mean) / (csat_count + k)


def score(
    model: RoutingModel, subject: Subject, agent: AgentView, tenant_mean: float, team: str | None
) -> Scored | None:
    """``agent``'s score for ``subject`` (None: not eligible). ``team``: the team the
    tenant maps the subject's queue to (None: no mapping, no team factor)."""
    if not eligible(model, agent.status):
        return None
    w = model.weights
    workload = -w.workload * agent.open_tickets
    csat = w.csat * (
        shrunk_csat(model, agent.csat_sum, agent.csat_count, tenant_mean) - tenant_mean
    )
    e = max(agent.experience, 0.0)
    experience = w.experience * e / (e + model.experience_scale)
    if subject.subject_type == "complaint" and subject.severity in (
        model.priority_complaints.severities
    ):
        csat *= model.priority_complaints.csat_multiplier
        experience *= model.priority_complaints.experience_multiplier
    team_match = w.team_match if team is not None and agent.team == team else 0.0
    cap = model.fairness_cap_s
    idle = cap if agent.idle_s is None else min(max(agent.idle_s, 0.0), cap)
    fairness = w.fairness * idle / cap
    in_call = -w.in_call if agent.status == "in_call" else 0.0
    points = tuple(
        round(p, SCORE_DECIMALS) + 0.0  # + 0.0: no -0.0
        for p in (workload, csat, experience, team_match, fairness, in_call)
    )
    return Scored(agent.agent_id, round(sum(points), SCORE_DECIMALS), points)


def factor_names(model: RoutingModel, team_mapped: bool) -> tuple[str, ...]:
    """The factors a recommendation lists: ``team_match`` only where the queue is mapped,
    ``in_call`` only where in-call agents may be recommended."""
    return tuple(
        f
        for f in ROUTING_FACTORS
        if (f != "team_match" or team_mapped) and (f != "in_call" or model.in_call_eligible)
    )


def _best_first(s: Scored) -> tuple[float, str]:
    """Higher score first; ties go to the smaller agent id (deterministic)."""
    return -s.score, s.agent_id


def rank(
    model: RoutingModel,
    subject: Subject,
    agents: Iterable[AgentView],
    tenant_mean: float,
    team: str | None,
) -> tuple[list[Scored], int]:
    """The top ``model.top_n`` eligible agents (best first; ties: smaller agent id) and
    how many were eligible."""
    scored = [s for a in agents if (s := score(model, subject, a, tenant_mean, team)) is not None]
    return heapq.nsmallest(model.top_n, scored, key=_best_first), len(scored)
