"""Routing recommendation (issue #15): the model file, its rows and the documents served.

The model
---------
For a new ticket or complaint, every *eligible* agent of the tenant gets a score, the
sum of these contributions (points; the weights are in ``schemas/routing_model.json``,
``CXPULSE_ROUTING_MODEL_FILE`` loads a variant, validated at start):

* ``workload``: ``-weights.workload * open_tickets`` (assigned to the agent, not resolved);
* ``csat``: ``weights.csat * (shrunk - tenant_mean)``, where ``shrunk = (sum + k * mean) /
  (count + k)`` over the agent's surveys of the last ``csat_window_days`` (``k`` =
  ``csat_prior_surveys``): an agent with few surveys stays near the tenant mean;
* ``experience``: ``weights.experience * e / (e + experience_scale)``, ``e`` the agent's
  resolved tickets of the subject's category, each weighing ``2 ** (-age /
  experience_half_life_days)``: saturating, so ten old tickets do not beat a specialist;
* ``team_match``: ``weights.team_match`` when the tenant maps the subject's queue to a
  team (``queue_teams``) and it is the agent's team; no factor where no mapping exists;
* ``fairness``: ``weights.fairness * min(idle, fairness_cap_s) / fairness_cap_s``, idle =
  time since the agent's last assignment (never assigned: the full amount);
* ``in_call``: ``-weights.in_call`` for an agent in a call, only listed when
  ``in_call_eligible`` lets such agents be recommended at all.

Eligible: latest status (event time) ``active`` or ``idle``; ``in_call`` only with
``in_call_eligible``; ``offline`` (or no status yet) never. A complaint of a severity in
``priority_complaints.severities`` (high, critical) multiplies the ``csat`` and
``experience`` contributions, so the best-rated specialists come first. Weights are
non-negative, so more open work never raises a score and a better CSAT never lowers it.

The rows
--------
``routing_recommendations``: one per ticket or complaint (the first ``ticket.created`` /
``complaint.created`` of its id), the top ``top_n`` candidates as aligned arrays (BI can
``ARRAY JOIN`` them); the API and the ``<prefix>routing`` topic serve it as a
:class:`RecommendationDocument`. ``routing_decisions``: one per routed ticket, written at
its first ``ticket.assigned`` (was the agent the top pick, in the top N, outside it) and
rewritten (``version``) as its outcomes arrive: first response, handle time, CSAT,
reopening.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.ids import stable_id
from schemas.results import AlertSeverity
from schemas.rows import Row, UtcDatetime

DEFAULT_MODEL_FILE = Path(__file__).parent / "routing_model.json"

# Every factor a candidate may list, in the order they are listed.
ROUTING_FACTORS: tuple[str, ...] = (
    "workload",
    "csat",
    "experience",
    "team_match",
    "fairness",
    "in_call",
)
SubjectType = Literal["ticket", "complaint"]
Adoption = Literal["top", "top_n", "outside"]
NO_ELIGIBLE_AGENT = "no_eligible_agent"
# the tenant has never reported an agent status: routing has nothing to rank, and no
# "no eligible agent" alert is raised (a tenant that does not use statuses is not down)
NO_AGENT_STATUS = "no_agent_status"
SCORE_DECIMALS = 6

Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RoutingWeights(_Frozen):
    """Points per unit of each factor (non-negative: see the module docstring)."""

    workload: Weight = Field(1.0, description="points taken per open ticket")
    csat: Weight = Field(1.5, description="points per CSAT star of the shrunk mean above "
                         "the tenant mean (below: taken)")  # fmt: skip
    experience: Weight = Field(2.0, description="points at full category experience")
    team_match: Weight = Field(1.0, description="points when the queue's team is the agent's")
    fairness: Weight = Field(0.5, description="points at fairness_cap_s since the last assignment")
    in_call: Weight = Field(1.0, description="points taken from an agent in a call")


class PriorityComplaints(_Frozen):
    """Complaints of these severities prefer the best CSAT and category experience."""

    severities: tuple[Literal["low", "medium", "high", "critical"], ...] = ("high", "critical")
    csat_multiplier: float = Field(2.0, ge=1, le=100, allow_inf_nan=False)
    experience_multiplier: float = Field(2.0, ge=1, le=100, allow_inf_nan=False)


class RoutingModel(_Frozen):
    """The routing model file (see the module docstring for how a score is made)."""

    top_n: int = Field(3, ge=1, le=20, description="candidates per recommendation")
    weights: RoutingWeights = Field(default_factory=RoutingWeights)
    csat_window_days: int = Field(30, ge=1, le=365)
    csat_prior_surveys: float = Field(
        5.0, ge=0, le=1000, allow_inf_nan=False, description="shrinkage strength k"
    )
    csat_default_mean: float = Field(
        4.0, ge=1, le=5, allow_inf_nan=False, description="the tenant mean before any survey"
    )
    experience_half_life_days: float = Field(30.0, gt=0, le=3650, allow_inf_nan=False)
    experience_scale: float = Field(
        3.0, gt=0, le=1e6, allow_inf_nan=False, description="experience giving half the points"
    )
    fairness_cap_s: float = Field(3600.0, gt=0, le=7 * 86_400, allow_inf_nan=False)
    in_call_eligible: bool = Field(False, description="recommend agents in a call (penalised)")
    priority_complaints: PriorityComplaints = Field(default_factory=PriorityComplaints)
    queue_teams: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="tenant -> queue -> the team that serves it"
    )
    unroutable_alert_after_s: float = Field(
        300.0, ge=0, le=7 * 86_400, allow_inf_nan=False,
        description="a routing_unavailable alert once no agent was eligible this long",
    )  # fmt: skip
    unroutable_severity: AlertSeverity = "high"

    @model_validator(mode="after")
    def _bounded(self) -> RoutingModel:
        if len(self.queue_teams) > 10_000 or any(len(q) > 1_000 for q in self.queue_teams.values()):
            raise ValueError("queue_teams: at most 10000 tenants of 1000 queues each")
        return self

    @classmethod
    def from_json(cls, path: str | Path) -> RoutingModel:
        """Load and validate a model file (omitted fields keep their defaults)."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


# ---- rows -------------------------------------------------------------------------------


def recommendation_id(tenant_id: str, subject_type: str, subject_id: str) -> UUID:
    return stable_id("routing_recommendation", tenant_id, subject_type, subject_id)


def decision_id(tenant_id: str, ticket_id: str) -> UUID:
    return stable_id("routing_decision", tenant_id, ticket_id)


class RoutingFactor(_Frozen):
    """One factor's share of a candidate's score, in points."""

    name: str = Field(description="workload, csat, experience, team_match, fairness or in_call")
    contribution: float = Field(description="Points the factor adds to the score")


class RoutingCandidate(_Frozen):
    """An agent recommended, its score and the factors behind it."""

    agent_id: str
    score: float = Field(description="Sum of the factors' contributions (higher: better)")
    factors: list[RoutingFactor] = Field(description="Each factor's points, in model order")


class RoutingRecommendation(Row):
    """The top candidates for one new ticket or complaint: a row of
    ``routing_recommendations`` (candidates as aligned arrays)."""

    recommendation_id: UUID = Field(description="stable_id of (tenant, subject type, subject)")
    tenant_id: str
    ticket_id: str = Field(description="The ticket routed ('' for a complaint without one)")
    subject_type: SubjectType
    subject_id: str = Field(description="The ticket or complaint id")
    made_at: UtcDatetime = Field(description="Event time of the creation it answers")
    category: str
    queue: str = Field(description="The ticket's queue ('' when unknown)")
    severity: str = Field(description="The complaint's severity ('' for a ticket)")
    eligible_agents: int = Field(ge=0, description="Agents that could take it then")
    reason: str = Field(description="'' or no_eligible_agent (then no candidates)")
    factor_names: list[str] = Field(description="The factors of candidate_factors, in order")
    candidate_agent_ids: list[str] = Field(description="Best first")
    candidate_scores: list[float]
    candidate_factors: list[list[float]] = Field(
        description="Per candidate, each factor's points, aligned with factor_names"
    )

    @property
    def candidates(self) -> list[RoutingCandidate]:
        names = self.factor_names
        return [
            RoutingCandidate(
                agent_id=agent,
                score=score,
                factors=[
                    RoutingFactor(name=n, contribution=c)
                    for n, c in zip(names, points, strict=True)
                ],
            )
            for agent, score, points in zip(
                self.candidate_agent_ids, self.candidate_scores, self.candidate_factors, strict=True
            )
        ]


class RecommendationDocument(_Frozen):
    """A recommendation as the API and the ``<prefix>routing`` topic publish it."""

    recommendation_id: UUID
    tenant_id: str
    ticket_id: str = Field(description="The ticket routed ('' for a complaint without one)")
    subject_type: SubjectType
    subject_id: str = Field(description="The ticket or complaint id")
    made_at: UtcDatetime = Field(description="Event time of the creation it answers")
    category: str
    queue: str
    severity: str
    eligible_agents: int
    candidates: list[RoutingCandidate] = Field(description="Best first; [] with a reason")
    reason: str | None = Field(description="no_eligible_agent when no agent could take it")

    @classmethod
    def of(cls, rec: RoutingRecommendation) -> RecommendationDocument:
        return cls(
            recommendation_id=rec.recommendation_id,
            tenant_id=rec.tenant_id,
            ticket_id=rec.ticket_id,
            subject_type=rec.subject_type,
            subject_id=rec.subject_id,
            made_at=rec.made_at,
            category=rec.category,
            queue=rec.queue,
            severity=rec.severity,
            eligible_agents=rec.eligible_agents,
            candidates=rec.candidates,
            reason=rec.reason or None,
        )


class RoutingDecision(Row):
    """One routed ticket's first assignment against its recommendation, and the
    outcomes since: a row of ``routing_decisions`` (the highest version wins)."""

    decision_id: UUID = Field(description="stable_id of (tenant, ticket)")
    tenant_id: str
    ticket_id: str
    recommendation_id: UUID
    version: int = Field(ge=1, description="Changes folded in (assignment, then outcomes)")
    assigned_at: UtcDatetime = Field(description="Event time of the first assignment")
    agent_id: str = Field(description="The agent it was assigned to")
    assigned_by: Literal["auto", "manual"]
    rank: int = Field(ge=0, description="The agent's place among the candidates (0: not one)")
    adoption: Adoption = Field(description="top (rank 1), top_n (2..N) or outside")
    first_response_s: float | None = Field(description="First response - creation (s)")
    handle_time_s: float | None = Field(
        description="Resolution - last assignment before it (s), at the first resolution"
    )
    csat: int | None = Field(description="The ticket's latest CSAT rating")
    reopened: bool = Field(description="Reopened after a resolution")
    updated_at: UtcDatetime = Field(description="Event time of the latest change")


# ---- the adoption report (a read of routing_decisions) -----------------------------------


class OutcomeFigures(_Frozen):
    """Outcomes of a group of routed tickets (null: nothing to average)."""

    assignments: int = Field(description="Tickets in the group")
    first_response_s_avg: float | None = Field(description="Mean first-response time (s)")
    handle_time_s_avg: float | None = Field(description="Mean handle time (s)")
    csat_avg: float | None = Field(description="Mean CSAT rating")
    csat_count: int = Field(description="Tickets rated")
    resolved: int = Field(description="Tickets resolved")
    reopen_rate: float | None = Field(description="Reopened / resolved")


class AdoptionReport(_Frozen):
    """How often assignments followed the recommendation, and how they turned out."""

    start: UtcDatetime = Field(description="Inclusive lower bound on assigned_at")
    end: UtcDatetime = Field(description="Exclusive upper bound on assigned_at")
    decisions: int = Field(description="Routed tickets first assigned in the range")
    top: int = Field(description="... to the top pick")
    top_n: int = Field(description="... to another candidate")
    outside: int = Field(description="... to an agent not recommended")
    auto: int = Field(description="... by the auto-assigner (assigned_by auto)")
    adoption_rate: float | None = Field(description="(top + top_n) / decisions")
    top_pick_rate: float | None = Field(description="top / decisions")
    followed: OutcomeFigures = Field(description="Assigned to a candidate (top or top_n)")
    not_followed: OutcomeFigures = Field(description="Assigned outside the candidates")
