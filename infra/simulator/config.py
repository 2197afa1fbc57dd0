"""What to simulate: the size, pace and stories of the simulated company."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class SimConfig:
    """Size and pace of the simulated company; every field has a demo-friendly default.

    ``tickets_per_hour`` is the per-tenant rate at the weekly peak; the other streams
    (chats, service requests, complaints) scale with it so one knob sets the load.
    ``start`` is fixed (a Monday) rather than "now" so the default run is reproducible.
    ``routing_follow_p``: the share of automatic assignments that follow the routing
    recommendation (the top agent by the routing scorer over what the simulator knows of
    its agents); the rest pick a random on-shift team member, as before. 0 (the default)
    keeps the stream of earlier versions; the demo uses 0.7, so adoption and the outcome
    difference show (``GET /v1/routing/adoption``). ``category_strengths`` gives every
    agent two specialities (+0.15 quality on their categories: faster, fewer reopenings,
    better CSAT), what the recommendation's experience factor finds; off by default, as
    it changes the stream that seeded tests and recorded runs expect.
    ``stories`` switches the scripted demo stories (see ``infra.simulator.stories``) on
    or off as a whole; each ``story_*`` flag switches one (a story runs when both its
    flag and ``stories`` are set).
    """

    seed: int = 7
    tenants: int = 3
    agents_per_tenant: int = 20
    clients_per_tenant: int = 200
    queues: tuple[str, ...] = ("billing", "technical", "onboarding", "returns")
    regions: tuple[str, ...] = ("north", "south", "east", "west")
    start: datetime = datetime(2025, 1, 6, tzinfo=UTC)
    tickets_per_hour: float = 60.0
    kb_article_every_h: float = 12.0
    stories: bool = True
    story_queue_surge: bool = True
    story_client_at_risk: bool = True
    story_urgent_breach: bool = True
    story_complaint_wave: bool = True
    story_demand_spike: bool = True
    story_csat_burst: bool = True
    story_message_flood: bool = True
    story_staff_gap: bool = True
    routing_follow_p: float = 0.0
    category_strengths: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if self.tenants < 1 or self.agents_per_tenant < 1 or self.clients_per_tenant < 1:
            raise ValueError("tenants, agents_per_tenant and clients_per_tenant must be >= 1")
        if not self.queues or not self.regions:
            raise ValueError("queues and regions must not be empty")
        if not 0.0 <= self.routing_follow_p <= 1.0:
            raise ValueError("routing_follow_p must be in [0, 1]")
        if not (self.tickets_per_hour > 0 and self.kb_article_every_h > 0):
            raise ValueError("tickets_per_hour and kb_article_every_h must be > 0")


def story_client_at_risk(cfg: SimConfig) -> bool:
    return cfg.stories and cfg.story_client_at_risk and cfg.clients_per_tenant >= 2
