"""The simulated world's mutable state: tenants, agents, clients, tickets, complaints,
chat sessions and backed-up queues, and how a tenant's population is drawn.

Plain slotted classes (no dataclass machinery): handlers mutate them on the hot path.
"""

from __future__ import annotations

import itertools
import random
from collections import deque

from infra.simulator.config import SimConfig, story_client_at_risk
from infra.simulator.vocabulary import CATEGORIES, SHIFTS, TROUBLED_P, Category, Weighted


class Agent:
    __slots__ = (
        "away_until",
        "csat_count",
        "csat_sum",
        "id",
        "last_assigned",
        "open",
        "resolved",
        "shift_day",
        "shift_end",
        "shift_h",
        "skill",
        "status",
        "strengths",
        "team",
        "tenant",
    )

    def __init__(
        self, agent_id: str, tenant: Tenant, team: str, skill: float, shift_h: int
    ) -> None:
        self.id = agent_id
        self.tenant = tenant
        self.team = team
        self.skill = skill  # hidden quality in [0, 1]: drives CSAT, reopens, speed
        self.shift_h = shift_h
        self.shift_day = 0  # epoch ms of the day the current/next shift starts on
        self.shift_end = 0
        self.status = "offline"
        self.away_until = 0  # in a meeting (staff-gap story) until then: epoch ms
        # category name -> skill offset: a specialist's categories go better (drawn
        # apart: see build_tenant)
        self.strengths: dict[str, float] = {}
        # what the simulated company knows of the agent, for its routing-following
        # assigner: open tickets, CSAT so far, resolved tickets by category (decaying
        # value, at ms), the latest assignment (epoch ms)
        self.open = 0
        self.csat_sum = 0
        self.csat_count = 0
        self.resolved: dict[str, tuple[float, int]] = {}
        self.last_assigned: int | None = None

    def skill_for(self, category: str) -> float:
        """The agent's quality on a ticket of ``category``, in [0, 1]."""
        return min(max(self.skill + self.strengths.get(category, 0.0), 0.0), 1.0)


class Client:
    __slots__ = ("base_health", "health", "id", "last_category", "last_ticket", "region", "tenant")

    def __init__(self, client_id: str, tenant: Tenant, region: str, base_health: float) -> None:
        self.id = client_id
        self.tenant = tenant
        self.region = region
        self.base_health = base_health
        self.health = base_health
        self.last_ticket: str | None = None
        self.last_category: Category | None = None


class Tenant:
    __slots__ = (
        "agents",
        "clients",
        "complaint_pick",
        "counter",
        "index",
        "name",
        "on_shift",
        "pick",
        "scripted",
        "surges",
        "troubled",
    )

    def __init__(self, name: str, index: int = 0) -> None:
        self.name = name
        self.index = index
        self.agents: list[Agent] = []
        self.clients: list[Client] = []
        self.on_shift: list[Agent] = []  # in login order: deterministic, unlike a set
        self.pick: Weighted[Client] = Weighted([])
        self.complaint_pick: Weighted[Client] = Weighted([])
        self.counter = itertools.count(1)  # one sequence for every id kind: unique, short
        self.troubled: set[int] = set()
        self.scripted: set[int] = set()  # clients a story drives: out of random traffic
        self.surges: dict[str, Surge] = {}  # queue -> its surge, while one runs

    def populate(self, agents: list[Agent], clients: list[Client], troubled: set[int]) -> None:
        self.agents = agents
        self.clients = clients
        self.troubled = troubled
        self.reweight()

    def reweight(self) -> None:
        """(Re)build the client pickers from ``troubled`` and ``scripted``."""
        troubled, scripted = self.troubled, self.scripted
        # troubled clients open more tickets and far more complaints
        self.pick = Weighted(
            [
                (c, 0.0 if i in scripted else 3.0 if i in troubled else 1.0)
                for i, c in enumerate(self.clients)
            ]
        )
        self.complaint_pick = Weighted(
            [
                (c, 0.0 if i in scripted else 25.0 if i in troubled else 1.0)
                for i, c in enumerate(self.clients)
            ]
        )


class Ticket:
    __slots__ = (
        "agent",
        "category",
        "client",
        "expected",
        "id",
        "priority",
        "queue",
        "recommended",
        "reopened",
        "tenant",
    )

    def __init__(
        self,
        ticket_id: str,
        tenant: Tenant,
        client: Client,
        category: Category,
        queue: str,
        priority: str,
    ) -> None:
        self.id = ticket_id
        self.tenant = tenant
        self.client = client
        self.category = category
        self.queue = queue
        self.priority = priority
        self.agent: Agent = tenant.agents[0]
        self.expected = 0  # typical handle time, ms: slower than this hurts CSAT
        self.reopened = False
        self.recommended: Agent | None = None  # the routing pick the assigner follows


class Complaint:
    __slots__ = ("category", "client", "id", "severity", "tenant")

    def __init__(
        self,
        complaint_id: str,
        tenant: Tenant,
        client: Client,
        severity: str,
        category: Category,
    ) -> None:
        self.id = complaint_id
        self.tenant = tenant
        self.client = client
        self.severity = severity
        self.category = category


class Session:
    __slots__ = ("agent", "channel", "id", "left", "queue", "tenant")

    def __init__(
        self, session_id: str, tenant: Tenant, channel: str, queue: str, messages: int
    ) -> None:
        self.id = session_id
        self.tenant = tenant
        self.channel = channel
        self.queue = queue
        self.left = messages
        self.agent: Agent | None = None


class Surge:
    """A queue backing up: surge arrivals and a slowed, first-come-first-served pickup."""

    __slots__ = ("end", "interval", "queue", "tenant", "waiting")

    def __init__(self, tenant: Tenant, queue: str, end: int, interval: float) -> None:
        self.tenant = tenant
        self.queue = queue
        self.end = end  # arrivals stop here; the backlog then drains
        self.interval = interval  # mean ms between surge arrivals
        self.waiting: deque[Session] = deque()


def build_tenant(rng: random.Random, cfg: SimConfig, name: str, index: int) -> Tenant:
    """Tenant ``name`` with its agents and clients, drawn from ``rng`` in a fixed order."""
    ten = Tenant(name, index)
    agents = []
    for i in range(cfg.agents_per_tenant):
        # most agents are good; about one in eight is weak and drags CSAT down
        skill = rng.uniform(0.15, 0.4) if rng.random() < 0.12 else rng.betavariate(6, 2)
        team = cfg.queues[i % len(cfg.queues)]
        shift_h = SHIFTS.pick(rng.random())
        agents.append(Agent(f"agent-{name}-{i + 1}", ten, team, skill, shift_h))
    troubled = {i for i in range(cfg.clients_per_tenant) if rng.random() < TROUBLED_P}
    if not troubled:
        troubled = {0}
    clients = [
        Client(
            f"client-{name}-{i + 1}",
            ten,
            rng.choice(cfg.regions),
            rng.uniform(30, 55) if i in troubled else rng.uniform(65, 95),
        )
        for i in range(cfg.clients_per_tenant)
    ]
    if cfg.category_strengths:  # from their own RNG: the run's draws stay as they were
        # two specialities per agent (+0.15 to its quality on their tickets)
        names = sorted(c.name for c in CATEGORIES)
        strengths = random.Random(f"{cfg.seed}/strengths/{name}")
        for agent in agents:
            agent.strengths = dict.fromkeys(strengths.sample(names, 2), 0.15)
    if story_client_at_risk(cfg):  # after every draw: the other clients stay as they were
        clients[0].base_health = clients[0].health = 80.0
        ten.scripted.add(0)
    ten.populate(agents, clients, troubled)
    return ten
