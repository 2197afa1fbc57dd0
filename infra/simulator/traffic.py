"""Seeded, deterministic traffic simulator for customer-operations events.

A pure generator: no Kafka, no clock, no sleeping. The CLI paces and sends; keeping
those apart lets tests replay hours of traffic in milliseconds and lets benchmarks run
faster than real time. One seed always yields the same byte-identical stream, so a
failing pipeline run can be reproduced exactly.

It is a discrete-event simulation: every entity (ticket, chat session, complaint,
agent, client) keeps exactly one pending step on a heap, ordered by simulated time, so
events come out in non-decreasing ``occurred_at`` order while lifecycles interleave
like real traffic. Time is integer milliseconds since the epoch: exact, hashable and
cheap to format, so floating-point drift can never reorder or duplicate timestamps.

Stories
-------
Random traffic alone rarely shows what a demo needs, so three scripted *stories* run on
top of it. They are on by default; ``SimConfig(stories=False)`` turns all of them off
(and then the stream is exactly the plain random traffic), and each has its own flag.
Times below are UTC; ``T0`` is ``config.start`` and ``i`` the tenant's index (0, 1, ...).
Every story is a pure function of the config and the seed, like the rest of the stream.

1. **Queue backing up** (``story_queue_surge``). A surge hits one queue of a tenant:
   for 45 min chat sessions are queued at 10x that queue's usual peak rate (at least
   80 an hour), at near-even spacing, while pickup in that queue slows to half the
   arrival rate, first come first served. Background sessions routed to that queue
   meanwhile join the same line. Depth climbs to half the surge's arrivals plus that
   background (~30-70 with the default config; always well over 15) and the oldest
   wait to 20-27 min. Then pickup runs at the surge rate: the line drains in ~20-30 min.
   When: once at ``T0 + 30 min + (i % 4) * 20 min`` (so any run shows one within its
   first two hours) on queue ``queues[i % len(queues)]``, and on every weekday at
   ``10:00 + (i % 4) * 5 min`` on queue ``queues[(epoch_day + i) % len(queues)]``,
   except on days when that would start less than 3 h after the opening surge.
2. **Client sliding into risk** (``story_client_at_risk``). Per tenant, client
   ``client-<tenant>-1`` (see :attr:`Simulator.at_risk_clients`; needs two or more
   clients per tenant) is scripted: it is left out of random traffic, silent until
   ``S = T0 + 2 h + (i % 4) * 30 min``, and then goes through a fixed arc. With the
   default risk model (``infra/risk_model.json``) its level is low from S, medium from
   S+6h, high from S+18h and critical from S+38h (each step lands up to 10 min after
   its nominal time; a ticket's own steps up to 1 min after theirs)::

       S+0h   health 80                     S+28h  health 66
       S+1h   complaint, medium             S+35h  ticket T2 (high prio) created
       S+2h   ticket T1 (normal) created    S+38h  complaint 2 escalated to critical
       S+5h   T1 resolved (in SLA)          S+39h  T2 breaches its 4 h SLA
       S+6h   CSAT 1 on T1                  S+41h  T2 resolved; S+42h CSAT 1 on T2
       S+12h  health 72                     S+44h  health 45
       S+16h  complaint 1 resolved          S+46h  T1 reopened (resolved at S+49h)
       S+18h  complaint, high (about T1)    S+48h  complaint, critical (about T2)
                                            S+52h  health 25; complaint 2 resolved

   At S+56h the client rejoins random traffic as a troubled client (baseline health
   30), and complaint 3 is resolved at S+60h.
3. **Breached urgent tickets** (``story_urgent_breach``). Every 24 h from
   ``T0 + 1 h + (i % 4) * 10 min`` each tenant gets an urgent ``outage`` ticket that is
   resolved 150-181 min after creation (an SLA breach), and 20 min later an urgent
   ``login_issue`` ticket resolved 35-46 min after creation (in time). Random traffic
   adds more of both; the story guarantees one of each per tenant per simulated day.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
import time
import uuid
from bisect import bisect
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

__all__ = ["SimConfig", "Simulator", "demand_multiplier", "invalid_samples"]

_T = TypeVar("_T")
_Event = dict[str, Any]
_Handler = Callable[[int, Any], _Event | None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEC = 1_000
_MIN = 60 * _SEC
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR

_TENANT_NAMES = ("acme", "globex", "initech")


@dataclass(frozen=True)
class SimConfig:
    """Size and pace of the simulated company; every field has a demo-friendly default.

    ``tickets_per_hour`` is the per-tenant rate at the weekly peak; the other streams
    (chats, service requests, complaints) scale with it so one knob sets the load.
    ``start`` is fixed (a Monday) rather than "now" so the default run is reproducible.
    ``stories`` switches the scripted demo stories (module docstring) on or off as a
    whole; ``story_queue_surge``, ``story_client_at_risk`` and ``story_urgent_breach``
    switch one each (a story runs when both its flag and ``stories`` are set).
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

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if self.tenants < 1 or self.agents_per_tenant < 1 or self.clients_per_tenant < 1:
            raise ValueError("tenants, agents_per_tenant and clients_per_tenant must be >= 1")
        if not self.queues or not self.regions:
            raise ValueError("queues and regions must not be empty")
        if not (self.tickets_per_hour > 0 and self.kb_article_every_h > 0):
            raise ValueError("tickets_per_hour and kb_article_every_h must be > 0")


# ---- volume profile -------------------------------------------------------------------

# Monday..Sunday. Weekends run at ~40 % so weekly dashboards show a visible dip.
_WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.0, 0.9, 0.4, 0.4)
_NIGHT_FLOOR = 0.1


def _demand_at(ms: int) -> float:
    """``demand_multiplier`` on epoch milliseconds: the hot path avoids datetime objects."""
    day, in_day = divmod(ms, _DAY)
    h = in_day / _HOUR
    morning = math.exp(-0.5 * ((h - 10.0) / 2.2) ** 2)
    afternoon = 0.95 * math.exp(-0.5 * ((h - 15.0) / 2.4) ** 2)
    diurnal = _NIGHT_FLOOR + (1.0 - _NIGHT_FLOOR) * max(morning, afternoon)
    return diurnal * _WEEKDAY_FACTOR[(day + 3) % 7]  # 1970-01-01 was a Thursday


def demand_multiplier(t: datetime) -> float:
    """Relative traffic volume at ``t``, in (0, 1]; exactly 1.0 on Mon-Thu at 10:00 UTC.

    Two business-hour peaks (~10:00 and ~15:00 UTC, with a lunch dip between them), a
    night floor of 10 %, Friday at 90 % and weekends at 40 %. Arrival streams use it to
    thin a constant-rate Poisson process, which is why its maximum must be 1.0.
    """
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("t must be timezone-aware")
    return _demand_at(_to_ms(t))


def _to_ms(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(milliseconds=1)


# ---- vocabulary -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Category:
    """One recurring problem: how it is reported, how long it takes, how it is fixed.

    Resolutions are fixed texts (no placeholders) so the same fix recurs verbatim,
    which is what clustering and "top resolutions" views need to find.
    """

    name: str
    queue: str  # default queue; remapped when the config uses other queue names
    weight: float
    handle_min: float
    severe: bool
    subjects: tuple[str, ...]
    descriptions: tuple[str, ...]
    resolutions: tuple[tuple[str, str], ...]
    kb_titles: tuple[str, ...]


_REFUND = ("refund_issued", "Refunded the charge; the card reversal takes 3-5 business days.")
_DOCS = ("docs_shared", "Shared the getting-started guide; the customer completed it alone.")
_REPLACE = ("replacement_shipped", "Shipped a replacement; no need to return the original.")
_LABEL = ("label_sent", "Sent a prepaid return label; the refund follows on receipt.")

_CATEGORIES: tuple[_Category, ...] = (
    _Category(
        "double_charge",
        "billing",
        6,
        25,
        False,
        ("Charged twice for order {order}", "Duplicate payment of {amount} EUR on {invoice}"),
        (
            "My card statement shows two charges of {amount} EUR for order {order}. "
            "Please refund the duplicate.",
            "We were billed twice for the {plan} plan ({invoice}); the second charge "
            "went through {days} days ago.",
        ),
        (_REFUND, ("duplicate_voided", "Voided the duplicate authorisation before settlement.")),
        ("Why was I charged twice?", "How duplicate card authorisations are reversed"),
    ),
    _Category(
        "invoice_error",
        "billing",
        5,
        35,
        False,
        ("Wrong amount on invoice {invoice}", "Invoice {invoice} lists {n} extra seats"),
        (
            "Invoice {invoice} shows {amount} EUR but our {plan} contract says otherwise.",
            "We are invoiced for {n} seats more than we use. Please correct {invoice}.",
        ),
        (
            ("invoice_corrected", "Issued a corrected invoice and credited the difference."),
            ("proration_explained", "Explained mid-cycle proration; the invoice was correct."),
        ),
        ("Reading your invoice line by line", "How seat proration works"),
    ),
    _Category(
        "refund_request",
        "billing",
        5,
        20,
        False,
        ("Refund for order {order}", "Requesting a refund of {amount} EUR"),
        (
            "I would like a refund for order {order} ({amount} EUR), I no longer need it.",
            "Please refund the {plan} renewal charged {days} days ago; we cancelled.",
        ),
        (_REFUND, ("refund_denied_policy", "Outside the 30-day window; offered account credit.")),
        ("Refund policy and timelines", "How to request a refund"),
    ),
    _Category(
        "payment_failed",
        "billing",
        4,
        30,
        False,
        ("Payment failed with error {error}", "Cannot renew {plan} plan: card declined"),
        (
            "Checkout shows error {error} for {amount} EUR although the card is valid.",
            "Our {plan} renewal failed {days} days ago and the account is now read-only.",
        ),
        (
            ("card_updated", "Customer updated the card on file; payment retried successfully."),
            ("gateway_retry", "Payment gateway timeout; retried the charge manually."),
        ),
        ("What to do when a payment is declined", "Updating the card on file"),
    ),
    _Category(
        "login_issue",
        "technical",
        12,
        15,
        False,
        (
            "Cannot log in for {days} days",
            "Password reset email never arrives",
            "Locked out after {n} failed logins",
        ),
        (
            "Login in {browser} fails with error {error}. Colleagues can log in fine.",
            "I requested a password reset {n} times and got no email.",
        ),
        (
            ("password_reset", "Reset the password and confirmed the user can log in."),
            ("sso_config_fixed", "Fixed the SSO redirect URL in the identity provider."),
            ("account_unlocked", "Unlocked the account after failed attempts; advised MFA."),
        ),
        ("Troubleshooting login problems", "Password reset emails not arriving"),
    ),
    _Category(
        "outage",
        "technical",
        2,
        180,
        True,
        ("Service unavailable - error {error}", "{product} down for our whole team"),
        (
            "Since this morning every page returns error {error}; {n} agents are blocked.",
            "{product} does not load at all in {browser}. This is business critical.",
        ),
        (
            ("incident_resolved", "Fixed by the platform incident fix; service restored."),
            ("cache_purged", "Stale CDN cache served errors; purged the tenant cache."),
        ),
        ("Checking service status during an incident", "What to do when the app is down"),
    ),
    _Category(
        "performance",
        "technical",
        5,
        90,
        False,
        ("{product} very slow in {browser}", "Reports take {n} minutes to load"),
        (
            "Since the last update {product} takes ages to respond in {browser}.",
            "The monthly report takes {n} minutes to load; it used to be instant.",
        ),
        (
            ("index_added", "Added a missing index on the tenant's report table."),
            ("browser_extension", "A browser extension caused the slowness; disabled it."),
        ),
        ("Speeding up slow reports", "Browser extensions that slow down the app"),
    ),
    _Category(
        "integration_error",
        "technical",
        4,
        120,
        True,
        ("{integration} sync failing with {error}", "Webhook to {integration} stopped firing"),
        (
            "The {integration} sync fails with {error} since {days} days; records are missing.",
            "Our {integration} webhook has not fired for {n} hours.",
        ),
        (
            ("token_refreshed", "Expired OAuth token; reconnected the integration and re-synced."),
            ("mapping_fixed", "Corrected the field mapping that rejected records."),
        ),
        ("Reconnecting an integration", "Field mapping errors explained"),
    ),
    _Category(
        "account_setup",
        "onboarding",
        4,
        30,
        False,
        ("Help setting up our {plan} account", "How do I add {n} users?"),
        (
            "We just signed up for {plan} and need help configuring workspaces.",
            "We need to invite {n} users and assign roles. Where do I start?",
        ),
        (("guided_setup", "Walked the customer through workspace setup and invites."), _DOCS),
        ("Setting up your workspace", "Inviting users and assigning roles"),
    ),
    _Category(
        "data_import",
        "onboarding",
        3,
        60,
        False,
        ("CSV import fails at row {n}", "Import from {integration} is incomplete"),
        (
            "The CSV import stops at row {n} with error {error}.",
            "Only part of our {integration} data was imported.",
        ),
        (
            ("file_fixed", "Malformed dates; re-exported with ISO dates and the import worked."),
            ("limit_raised", "Raised the import row limit for the account; import completed."),
        ),
        ("Preparing a CSV for import", "Import limits and how to raise them"),
    ),
    _Category(
        "training_request",
        "onboarding",
        2,
        45,
        False,
        ("Training session for {n} new agents", "Request for a {product} walkthrough"),
        (
            "We are onboarding {n} new agents next week and would like a live session.",
            "Could someone walk our team through {product}?",
        ),
        (("training_scheduled", "Scheduled a live training and sent the recording."), _DOCS),
        ("Training resources for new agents", "Booking a live walkthrough"),
    ),
    _Category(
        "return_request",
        "returns",
        5,
        20,
        False,
        ("Return {product} from order {order}", "I want to return order {order}"),
        (
            "I would like to return the {product} from order {order}; it does not fit.",
            "Order {order} arrived {days} days ago and I want to send it back.",
        ),
        (_LABEL, ("exchange_offered", "The customer accepted an exchange instead of a return.")),
        ("How to return an item", "Exchanges versus refunds"),
    ),
    _Category(
        "damaged_item",
        "returns",
        3,
        25,
        False,
        ("{product} arrived damaged", "Broken {product} in order {order}"),
        (
            "The {product} in order {order} arrived with a cracked case.",
            "The box was crushed and the {product} does not turn on.",
        ),
        (_REPLACE, _REFUND),
        ("What to do if your item arrives damaged", "Reporting shipping damage"),
    ),
    _Category(
        "wrong_item",
        "returns",
        2,
        25,
        False,
        ("Wrong item received for order {order}", "Order {order} has a {product} I never ordered"),
        (
            "Order {order} contained a {product} instead of what I ordered.",
            "I received {n} items but ordered only one {product}.",
        ),
        (_REPLACE, _LABEL),
        ("Received the wrong item?", "How wrong shipments are corrected"),
    ),
)

_PRODUCTS = ("Router X2", "Smart Hub", "Desk Phone P4", "Headset H7", "Dashboard", "Mobile App")
_BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
_INTEGRATIONS = ("Salesforce", "Slack", "SAP", "HubSpot", "Zendesk")
_PLANS = ("Starter", "Team", "Business", "Enterprise")
_SERVICE_TYPES = ("installation", "repair", "maintenance", "inspection", "replacement")

_COMMENTS_BAD = (
    "Took far too long to get an answer.",
    "The problem is not really solved.",
    "The agent did not understand the issue.",
    "I had to explain everything twice.",
)
_COMMENTS_MID = ("OK in the end.", "Solved, but slow.", "Fine.")
_COMMENTS_GOOD = ("Quick and friendly, thanks!", "Great support, problem solved.", "Very helpful.")
_COMPLAINTS = (
    "Repeated {category} problems; this is the {n}th time this month.",
    "Unacceptable response time on our {category} ticket.",
    "Still no fix for {category} after {days} days. We are considering cancelling.",
    "Your agent closed our {category} ticket without solving anything.",
)


class _Weighted(Generic[_T]):
    """Weighted choice by bisecting cumulative weights: one ``random()`` call per pick."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: Sequence[tuple[_T, float]]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))
        self.total = self.cum[-1] if self.cum else 0.0

    def pick(self, r: float) -> _T:
        """``r`` is a uniform draw in [0, 1)."""
        return self.items[bisect(self.cum, r * self.total)]


_PRIORITY = _Weighted([("low", 0.25), ("normal", 0.5), ("high", 0.18), ("urgent", 0.07)])
_PRIORITY_SEVERE = _Weighted([("normal", 0.3), ("high", 0.4), ("urgent", 0.3)])
# mean minutes to first response / handle-time factor, per priority
_FIRST_RESPONSE_MIN = {"low": 120.0, "normal": 45.0, "high": 15.0, "urgent": 6.0}
_HANDLE_FACTOR = {"low": 1.3, "normal": 1.0, "high": 0.8, "urgent": 0.6}
_CHANNEL = _Weighted([("email", 0.35), ("portal", 0.25), ("chat", 0.25), ("phone", 0.15)])
_SESSION_CHANNEL = _Weighted(
    [("chat", 0.55), ("phone", 0.25), ("video", 0.08), ("email", 0.06), ("portal", 0.06)]
)
_KIND_TEXT = _Weighted(
    [("text", 0.8), ("image", 0.08), ("file", 0.07), ("audio", 0.03), ("video", 0.02)]
)
_KIND_CALL = _Weighted([("audio", 0.4), ("file", 0.25), ("image", 0.2), ("video", 0.15)])
_URGENCY = _Weighted([("low", 0.3), ("normal", 0.45), ("high", 0.18), ("urgent", 0.07)])
_SEVERITY = _Weighted([("low", 0.35), ("medium", 0.4), ("high", 0.2), ("critical", 0.05)])
_SEVERITY_TROUBLED = _Weighted([("low", 0.1), ("medium", 0.35), ("high", 0.4), ("critical", 0.15)])
_SEVERITY_UP = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}
_ESCALATE_P = {"low": 0.05, "medium": 0.15, "high": 0.35, "critical": 0.6}
# (start hour UTC, weight): business hours well covered, a thin night shift
_SHIFTS = _Weighted([(6, 2.0), (8, 4.0), (9, 4.0), (12, 3.0), (14, 3.0), (22, 1.0)])
_SHIFT_MS = 8 * _HOUR
# agent status machine: next status weights and mean dwell (minutes) per status
_NEXT_STATUS = {
    "active": _Weighted([("idle", 0.4), ("in_call", 0.6)]),
    "idle": _Weighted([("active", 0.5), ("in_call", 0.5)]),
    "in_call": _Weighted([("active", 0.6), ("idle", 0.4)]),
}
_DWELL_MIN = {"active": 8.0, "idle": 6.0, "in_call": 12.0}

# Stream rates relative to tickets_per_hour (per tenant, at peak demand).
_SESSION_RATIO = 0.6
_SERVICE_RATIO = 0.2
_COMPLAINT_RATIO = 0.03
_CSAT_P = 0.4
_TROUBLED_P = 0.04

# Stories (see the module docstring).
_SURGE_MS = 45 * _MIN
_SURGE_FACTOR = 10.0  # surge arrival rate / the queue's usual peak session rate
_SURGE_MIN_PER_HOUR = 80.0  # floor, so small configs back up too
_SURGE_PICKUP = 0.5  # pickups per arrival while the surge lasts
_SURGE_OPENING_MS = 30 * _MIN  # first surge: T0 + this + (i % 4) * 20 min
_SURGE_HOUR = 10  # daily surges: weekdays at 10:00 + (i % 4) * 5 min
_SURGE_GAP_MS = 3 * _HOUR  # no daily surge closer than this after the opening one
_ARC_START_MS = 2 * _HOUR  # at-risk arc: T0 + this + (i % 4) * 30 min
_ARC_REJOIN_HEALTH = 30.0
_URGENT_START_MS = _HOUR  # breached urgent ticket: T0 + this + (i % 4) * 10 min, daily


# ---- simulation state -----------------------------------------------------------------


class _Agent:
    __slots__ = ("id", "shift_day", "shift_end", "shift_h", "skill", "status", "team", "tenant")

    def __init__(
        self, agent_id: str, tenant: _Tenant, team: str, skill: float, shift_h: int
    ) -> None:
        self.id = agent_id
        self.tenant = tenant
        self.team = team
        self.skill = skill  # hidden quality in [0, 1]: drives CSAT, reopens, speed
        self.shift_h = shift_h
        self.shift_day = 0  # epoch ms of the day the current/next shift starts on
        self.shift_end = 0
        self.status = "offline"


class _Client:
    __slots__ = ("base_health", "health", "id", "last_category", "last_ticket", "region", "tenant")

    def __init__(self, client_id: str, tenant: _Tenant, region: str, base_health: float) -> None:
        self.id = client_id
        self.tenant = tenant
        self.region = region
        self.base_health = base_health
        self.health = base_health
        self.last_ticket: str | None = None
        self.last_category: _Category | None = None


class _Tenant:
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
        self.agents: list[_Agent] = []
        self.clients: list[_Client] = []
        self.on_shift: list[_Agent] = []  # in login order: deterministic, unlike a set
        self.pick: _Weighted[_Client] = _Weighted([])
        self.complaint_pick: _Weighted[_Client] = _Weighted([])
        self.counter = itertools.count(1)  # one sequence for every id kind: unique, short
        self.troubled: set[int] = set()
        self.scripted: set[int] = set()  # clients a story drives: out of random traffic
        self.surges: dict[str, _Surge] = {}  # queue -> its surge, while one runs

    def populate(self, agents: list[_Agent], clients: list[_Client], troubled: set[int]) -> None:
        self.agents = agents
        self.clients = clients
        self.troubled = troubled
        self.reweight()

    def reweight(self) -> None:
        """(Re)build the client pickers from ``troubled`` and ``scripted``."""
        troubled, scripted = self.troubled, self.scripted
        # troubled clients open more tickets and far more complaints
        self.pick = _Weighted(
            [
                (c, 0.0 if i in scripted else 3.0 if i in troubled else 1.0)
                for i, c in enumerate(self.clients)
            ]
        )
        self.complaint_pick = _Weighted(
            [
                (c, 0.0 if i in scripted else 25.0 if i in troubled else 1.0)
                for i, c in enumerate(self.clients)
            ]
        )


class _Ticket:
    __slots__ = (
        "agent",
        "category",
        "client",
        "expected",
        "id",
        "priority",
        "queue",
        "reopened",
        "tenant",
    )

    def __init__(
        self,
        ticket_id: str,
        tenant: _Tenant,
        client: _Client,
        category: _Category,
        queue: str,
        priority: str,
    ) -> None:
        self.id = ticket_id
        self.tenant = tenant
        self.client = client
        self.category = category
        self.queue = queue
        self.priority = priority
        self.agent: _Agent = tenant.agents[0]
        self.expected = 0  # typical handle time, ms: slower than this hurts CSAT
        self.reopened = False


class _Complaint:
    __slots__ = ("category", "client", "id", "severity", "tenant")

    def __init__(
        self,
        complaint_id: str,
        tenant: _Tenant,
        client: _Client,
        severity: str,
        category: _Category,
    ) -> None:
        self.id = complaint_id
        self.tenant = tenant
        self.client = client
        self.severity = severity
        self.category = category


class _Session:
    __slots__ = ("agent", "channel", "id", "left", "queue", "tenant")

    def __init__(
        self, session_id: str, tenant: _Tenant, channel: str, queue: str, messages: int
    ) -> None:
        self.id = session_id
        self.tenant = tenant
        self.channel = channel
        self.queue = queue
        self.left = messages
        self.agent: _Agent | None = None


class _Surge:
    """A queue backing up: surge arrivals and a slowed, first-come-first-served pickup."""

    __slots__ = ("end", "interval", "queue", "tenant", "waiting")

    def __init__(self, tenant: _Tenant, queue: str, end: int, interval: float) -> None:
        self.tenant = tenant
        self.queue = queue
        self.end = end  # arrivals stop here; the backlog then drains
        self.interval = interval  # mean ms between surge arrivals
        self.waiting: deque[_Session] = deque()


@dataclass(frozen=True, slots=True)
class _Script:
    """The fixed lifecycle of a scripted ticket: offsets in ms from its creation."""

    assign: int
    respond: int
    resolve: int
    csat_at: int | None = None  # a CSAT rating of ``csat`` then
    csat: int = 1
    reopen_at: int | None = None  # reopened then, resolved again at ``reresolve_at``
    reresolve_at: int = 0


# the urgent-breach story's pair (resolve times get up to 30 / 10 min of jitter)
_URGENT_LATE = _Script(assign=2 * _MIN, respond=10 * _MIN, resolve=150 * _MIN)
_URGENT_IN_TIME = _Script(assign=_MIN, respond=5 * _MIN, resolve=35 * _MIN)


class _Arc:
    """State of one client's at-risk arc: its tickets and complaints by script name."""

    __slots__ = ("client", "complaints", "tickets")

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.tickets: dict[str, _Ticket] = {}
        self.complaints: dict[str, _Complaint] = {}


class _Stream:
    """A Poisson arrival stream of one tenant, thinned by the demand profile."""

    __slots__ = ("per_ms", "spawn", "tenant")

    def __init__(
        self, tenant: _Tenant, per_hour: float, spawn: Callable[[int, _Tenant], _Event]
    ) -> None:
        self.tenant = tenant
        self.per_ms = per_hour / _HOUR
        self.spawn = spawn


class Simulator:
    """Deterministic event source: ``Simulator(cfg).events()`` yields envelope dicts.

    Every call to :meth:`events` starts a fresh run from ``config.start`` with the same
    seed, so two iterators over one simulator (or two simulators with equal configs)
    produce identical streams. The stream is infinite; the caller decides when to stop.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        n = self.config.tenants
        self.tenant_ids: tuple[str, ...] = _TENANT_NAMES[:n] + tuple(
            f"t{i}" for i in range(len(_TENANT_NAMES) + 1, n + 1)
        )

    @property
    def at_risk_clients(self) -> dict[str, str]:
        """Tenant -> id of the client the "sliding into risk" story follows.

        Empty when that story is off, or with fewer than two clients per tenant (the
        story then has no random traffic left to hide the client from).
        """
        cfg = self.config
        if not _story_client_at_risk(cfg):
            return {}
        return {name: f"client-{name}-1" for name in self.tenant_ids}

    def events(self) -> Iterator[_Event]:
        """Yield JSON-serialisable envelopes in non-decreasing ``occurred_at`` order."""
        return _Run(self.config, self.tenant_ids).run()


def _story_client_at_risk(cfg: SimConfig) -> bool:
    return cfg.stories and cfg.story_client_at_risk and cfg.clients_per_tenant >= 2


class _Run:
    """The mutable state of one simulation run; handlers mutate it and return one event.

    Each handler takes the current time and its entity, may schedule the entity's next
    step and returns the event to emit (or ``None``). Ties on the heap are broken by a
    sequence number, so ordering never depends on comparing entities.
    """

    def __init__(self, cfg: SimConfig, tenant_ids: tuple[str, ...]) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.heap: list[tuple[int, int, _Handler, Any]] = []
        self.seq = itertools.count()
        self.now = _to_ms(cfg.start)
        self.last_sec = -1
        self.last_prefix = ""
        self.categories = _Weighted([(c, c.weight) for c in _CATEGORIES])
        self.queue_of = {
            c.name: c.queue if c.queue in cfg.queues else cfg.queues[i % len(cfg.queues)]
            for i, c in enumerate(_CATEGORIES)
        }
        self.category = {c.name: c for c in _CATEGORIES}
        shares: dict[str, float] = {}
        for c in _CATEGORIES:
            shares[self.queue_of[c.name]] = shares.get(self.queue_of[c.name], 0.0) + c.weight
        self.queue_share = {q: w / self.categories.total for q, w in shares.items()}
        self.tenants = [self._build_tenant(name, i) for i, name in enumerate(tenant_ids)]

    # -- world ---------------------------------------------------------------------------

    def _build_tenant(self, name: str, index: int) -> _Tenant:
        rng, cfg = self.rng, self.cfg
        ten = _Tenant(name, index)
        agents = []
        for i in range(cfg.agents_per_tenant):
            # most agents are good; about one in eight is weak and drags CSAT down
            skill = rng.uniform(0.15, 0.4) if rng.random() < 0.12 else rng.betavariate(6, 2)
            team = cfg.queues[i % len(cfg.queues)]
            shift_h = _SHIFTS.pick(rng.random())
            agents.append(_Agent(f"agent-{name}-{i + 1}", ten, team, skill, shift_h))
        troubled = {i for i in range(cfg.clients_per_tenant) if rng.random() < _TROUBLED_P}
        if not troubled:
            troubled = {0}
        clients = [
            _Client(
                f"client-{name}-{i + 1}",
                ten,
                rng.choice(cfg.regions),
                rng.uniform(30, 55) if i in troubled else rng.uniform(65, 95),
            )
            for i in range(cfg.clients_per_tenant)
        ]
        if _story_client_at_risk(cfg):  # after every draw: the other clients stay as they were
            clients[0].base_health = clients[0].health = 80.0
            ten.scripted.add(0)
        ten.populate(agents, clients, troubled)
        return ten

    def _seed_schedule(self) -> None:
        rng, cfg, t0 = self.rng, self.cfg, self.now
        rate = cfg.tickets_per_hour
        day0 = t0 - t0 % _DAY
        for ten in self.tenants:
            for per_hour, spawn in (
                (rate, self._ticket_created),
                (rate * _SESSION_RATIO, self._session_queued),
                (rate * _SERVICE_RATIO, self._service_requested),
                (rate * _COMPLAINT_RATIO, self._complaint_created),
            ):
                stream = _Stream(ten, per_hour, spawn)
                self.push(self._next_arrival(t0, stream.per_ms), self._arrival, stream)
            kb_every = cfg.kb_article_every_h * _HOUR
            self.push(t0 + int(rng.uniform(0.05, 1.0) * kb_every), self._kb_article, ten)
            for i, client in enumerate(ten.clients):  # spread: updates trickle, not burst
                at = t0 + rng.randrange(_DAY)
                if i not in ten.scripted:
                    self.push(at, self._client_health, client)
            for ag in ten.agents:
                for day in (day0 - _DAY, day0):
                    login = day + ag.shift_h * _HOUR
                    if login <= t0 < login + _SHIFT_MS:  # start mid-shift: log in at once
                        ag.shift_day = day
                        self.push(t0, self._agent_login, ag)
                        break
                else:
                    ag.shift_day = day0 if t0 < day0 + ag.shift_h * _HOUR else day0 + _DAY
                    self.push(
                        ag.shift_day + ag.shift_h * _HOUR + rng.randrange(15 * _MIN),
                        self._agent_login,
                        ag,
                    )
            self._seed_stories(ten)

    # -- engine --------------------------------------------------------------------------

    def run(self) -> Iterator[_Event]:
        self._seed_schedule()
        heap, pop = self.heap, heapq.heappop
        while True:
            t, _, handler, arg = pop(heap)
            self.now = t
            event = handler(t, arg)
            if event is not None:
                yield event

    def push(self, t: int, handler: _Handler, arg: Any) -> None:
        """Schedule ``handler(t, arg)``; never in the past, so output order holds."""
        heapq.heappush(self.heap, (max(t, self.now), next(self.seq), handler, arg))

    def after(self, t: int, mean_ms: float, floor_ms: int) -> int:
        """``t`` plus an exponential delay: most waits are short, a few are very long."""
        return t + floor_ms + int(self.rng.expovariate(1.0 / mean_ms))

    def _next_arrival(self, t: int, per_ms: float) -> int:
        """Thinning (Lewis-Shedler): candidates at the peak rate, kept with p = demand."""
        rng = self.rng
        x = float(t)
        while True:
            x += rng.expovariate(per_ms)
            if rng.random() < _demand_at(int(x)):
                return int(x)

    def _arrival(self, t: int, stream: _Stream) -> _Event:
        self.push(self._next_arrival(t, stream.per_ms), self._arrival, stream)
        return stream.spawn(t, stream.tenant)

    def _iso(self, t: int) -> str:
        sec, ms = divmod(t, 1000)
        if sec != self.last_sec:  # strftime is the slow part; bursts share a second
            self.last_sec = sec
            self.last_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self.last_prefix}.{ms:03d}Z"

    def env(
        self,
        t: int,
        event_type: str,
        tenant: str,
        source: str,
        payload: dict[str, Any],
        correlation_id: str | None = None,
    ) -> _Event:
        return {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "event_type": event_type,
            "schema_version": 1,
            "tenant_id": tenant,
            "occurred_at": self._iso(t),
            "source": source,
            "correlation_id": correlation_id,
            "payload": payload,
        }

    def _pick_agent(self, ten: _Tenant, team: str) -> _Agent:
        """An on-shift agent of ``team``, else any on-shift agent, else anyone (backlog)."""
        on = ten.on_shift
        team_on = [a for a in on if a.team == team]
        return self.rng.choice(team_on or on or ten.agents)

    def _details(self) -> dict[str, object]:
        rng = self.rng
        return {
            "order": f"ORD-{rng.randrange(10_000, 99_999)}",
            "invoice": f"INV-{rng.randrange(1000, 9999)}",
            "amount": f"{rng.randrange(900, 49_900) / 100:.2f}",
            "product": rng.choice(_PRODUCTS),
            "browser": rng.choice(_BROWSERS),
            "integration": rng.choice(_INTEGRATIONS),
            "plan": rng.choice(_PLANS),
            "error": f"E{rng.randrange(400, 599)}",
            "n": rng.randrange(2, 40),
            "days": rng.randrange(1, 14),
        }

    # -- tickets -------------------------------------------------------------------------

    def _ticket_created(self, t: int, ten: _Tenant) -> _Event:
        rng = self.rng
        client = ten.pick.pick(rng.random())
        cat = self.categories.pick(rng.random())
        prio = (_PRIORITY_SEVERE if cat.severe else _PRIORITY).pick(rng.random())
        tk = self._new_ticket(ten, client, cat, prio)
        details = self._details()
        # routing is automatic when a team member is on shift; otherwise a supervisor
        # triages by hand, minutes to hours later
        staffed = any(a.team == tk.queue for a in ten.on_shift)
        if staffed and rng.random() < 0.9:
            self.push(t + rng.randrange(5 * _SEC, 3 * _MIN), self._ticket_assigned, (tk, "auto"))
        else:
            self.push(self.after(t, 25 * _MIN, _MIN), self._ticket_assigned, (tk, "manual"))
        return self._created_event(t, tk, details)

    def _new_ticket(self, ten: _Tenant, client: _Client, cat: _Category, prio: str) -> _Ticket:
        queue = self.queue_of[cat.name]
        tk = _Ticket(f"tkt-{ten.name}-{next(ten.counter):06d}", ten, client, cat, queue, prio)
        client.last_ticket, client.last_category = tk.id, cat
        return tk

    def _ticket_env(self, t: int, event_type: str, tk: _Ticket, payload: dict[str, Any]) -> _Event:
        return self.env(t, event_type, tk.tenant.name, "helpdesk", payload, tk.id)

    def _created_event(self, t: int, tk: _Ticket, details: dict[str, object]) -> _Event:
        rng, cat = self.rng, tk.category
        return self._ticket_env(
            t,
            "ticket.created",
            tk,
            {
                "ticket_id": tk.id,
                "client_id": tk.client.id,
                "channel": _CHANNEL.pick(rng.random()),
                "queue": tk.queue,
                "priority": tk.priority,
                "category": cat.name,
                "subject": rng.choice(cat.subjects).format_map(details),
                "description": rng.choice(cat.descriptions).format_map(details),
                "region": tk.client.region,
            },
        )

    def _ticket_assigned(self, t: int, arg: tuple[_Ticket, str]) -> _Event:
        tk, how = arg
        tk.agent = self._pick_agent(tk.tenant, tk.queue)
        slowness = 1.5 - 0.7 * tk.agent.skill
        mean = _FIRST_RESPONSE_MIN[tk.priority] * _MIN * slowness
        self.push(self.after(t, mean, 30 * _SEC), self._ticket_first_response, tk)
        return self._assigned_event(t, tk, how)

    def _assigned_event(self, t: int, tk: _Ticket, how: str) -> _Event:
        payload = {"ticket_id": tk.id, "agent_id": tk.agent.id, "assigned_by": how}
        return self._ticket_env(t, "ticket.assigned", tk, payload)

    def _handle_time(self, tk: _Ticket) -> int:
        tk.expected = int(tk.category.handle_min * _HANDLE_FACTOR[tk.priority] * _MIN)
        noise = self.rng.lognormvariate(0.0, 0.6)
        return int(tk.expected * (1.6 - tk.agent.skill) * noise) + _MIN

    def _ticket_first_response(self, t: int, tk: _Ticket) -> _Event:
        handle = self._handle_time(tk)
        self.push(t + handle, self._ticket_resolved, (tk, handle))
        return self._first_response_event(t, tk)

    def _first_response_event(self, t: int, tk: _Ticket) -> _Event:
        payload = {"ticket_id": tk.id, "agent_id": tk.agent.id}
        return self._ticket_env(t, "ticket.first_response", tk, payload)

    def _ticket_resolved(self, t: int, arg: tuple[_Ticket, int]) -> _Event:
        tk, handle = arg
        rng = self.rng
        resolution = self._resolution(tk.category)
        if not tk.reopened and rng.random() < 0.015 + 0.1 * (1.0 - tk.agent.skill):
            self.push(self.after(t, 8 * _HOUR, 5 * _MIN), self._ticket_reopened, tk)
        if rng.random() < _CSAT_P:
            slow = handle > 2 * tk.expected
            self.push(self.after(t, 3 * _HOUR, _MIN), self._csat, (tk, slow))
        return self._resolved_event(t, tk, resolution)

    def _resolution(self, cat: _Category) -> tuple[str, str]:
        # the first listed fix is the usual one: recurring problems share resolutions
        rng = self.rng
        return cat.resolutions[0] if rng.random() < 0.6 else rng.choice(cat.resolutions)

    def _resolved_event(self, t: int, tk: _Ticket, resolution: tuple[str, str]) -> _Event:
        code, text = resolution
        return self._ticket_env(
            t,
            "ticket.resolved",
            tk,
            {
                "ticket_id": tk.id,
                "agent_id": tk.agent.id,
                "category": tk.category.name,
                "resolution_code": code,
                "resolution_text": text,
            },
        )

    def _ticket_reopened(self, t: int, tk: _Ticket) -> _Event:
        tk.reopened = True
        tk.client.health -= 3.0
        handle = int(self._handle_time(tk) * 0.6)
        self.push(t + handle, self._ticket_resolved, (tk, handle))
        return self._ticket_env(t, "ticket.reopened", tk, {"ticket_id": tk.id})

    def _csat(self, t: int, arg: tuple[_Ticket, bool]) -> _Event:
        tk, slow = arg
        rng = self.rng
        q = tk.agent.skill - (0.25 if tk.reopened else 0.0) - (0.1 if slow else 0.0)
        q = min(max(q, 0.0), 1.0)
        if rng.random() < 0.02 + 0.36 * (1.0 - q) ** 2:
            rating = 1 if rng.random() < 0.55 else 2
        else:
            w3, w5 = 0.05 + 0.3 * (1.0 - q), 0.3 + 0.6 * q
            r = rng.random() * (w3 + 0.35 + w5)
            rating = 3 if r < w3 else 4 if r < w3 + 0.35 else 5
        comment: str | None = None
        if rating <= 2:
            tk.client.health -= 5.0
            comment = rng.choice(_COMMENTS_BAD) if rng.random() < 0.7 else None
        elif rating == 5:
            tk.client.health += 1.0
            comment = rng.choice(_COMMENTS_GOOD) if rng.random() < 0.3 else None
        elif rng.random() < 0.15:
            comment = rng.choice(_COMMENTS_MID)
        return self._csat_event(t, tk, rating, comment)

    def _csat_event(self, t: int, tk: _Ticket, rating: int, comment: str | None) -> _Event:
        ten = tk.tenant
        return self.env(
            t,
            "csat.received",
            ten.name,
            "survey",
            {
                "survey_id": f"csat-{ten.name}-{next(ten.counter):06d}",
                "ticket_id": tk.id,
                "agent_id": tk.agent.id,
                "client_id": tk.client.id,
                "rating": rating,
                "comment": comment,
            },
            tk.id,
        )

    # -- complaints ----------------------------------------------------------------------

    def _complaint_created(self, t: int, ten: _Tenant) -> _Event:
        rng = self.rng
        client = ten.complaint_pick.pick(rng.random())
        troubled = client.base_health < 60
        severity = (_SEVERITY_TROUBLED if troubled else _SEVERITY).pick(rng.random())
        linked = client.last_ticket is not None and rng.random() < 0.6
        cat = (
            client.last_category
            if linked and client.last_category
            else (self.categories.pick(rng.random()))
        )
        cp = _Complaint(f"cmp-{ten.name}-{next(ten.counter):06d}", ten, client, severity, cat)
        client.health -= 8.0
        if rng.random() < _ESCALATE_P[severity]:
            self.push(self.after(t, 4 * _HOUR, 10 * _MIN), self._complaint_escalated, cp)
        else:
            self.push(self.after(t, 20 * _HOUR, 30 * _MIN), self._complaint_resolved, cp)
        return self._complaint_event(t, cp, client.last_ticket if linked else None)

    def _complaint_event(self, t: int, cp: _Complaint, ticket_id: str | None) -> _Event:
        rng = self.rng
        description = rng.choice(_COMPLAINTS).format(
            category=cp.category.name.replace("_", " "),
            n=rng.randrange(2, 6),
            days=rng.randrange(2, 20),
        )
        return self.env(
            t,
            "complaint.created",
            cp.tenant.name,
            "crm",
            {
                "complaint_id": cp.id,
                "client_id": cp.client.id,
                "severity": cp.severity,
                "category": cp.category.name,
                "description": description,
                "ticket_id": ticket_id,
            },
            cp.id,
        )

    def _complaint_escalated(self, t: int, cp: _Complaint) -> _Event:
        self.push(self.after(t, 10 * _HOUR, 30 * _MIN), self._complaint_resolved, cp)
        return self._escalated_event(t, cp)

    def _escalated_event(self, t: int, cp: _Complaint) -> _Event:
        cp.severity = _SEVERITY_UP[cp.severity]
        return self.env(
            t,
            "complaint.escalated",
            cp.tenant.name,
            "crm",
            {
                "complaint_id": cp.id,
                "client_id": cp.client.id,
                "severity": cp.severity,
            },
            cp.id,
        )

    def _complaint_resolved(self, t: int, cp: _Complaint) -> _Event:
        agent = self._pick_agent(cp.tenant, self.queue_of[cp.category.name])
        return self.env(
            t,
            "complaint.resolved",
            cp.tenant.name,
            "crm",
            {
                "complaint_id": cp.id,
                "client_id": cp.client.id,
                "agent_id": agent.id,
            },
            cp.id,
        )

    # -- clients, service, knowledge base ------------------------------------------------

    def _client_health(self, t: int, client: _Client) -> _Event:
        """Penalties land at once; the score reverts towards the client's baseline."""
        rng = self.rng
        client.health += 0.3 * (client.base_health - client.health) + rng.gauss(0.0, 2.0)
        client.health = min(max(client.health, 0.0), 100.0)
        self.push(t + int(_DAY * rng.uniform(0.8, 1.2)), self._client_health, client)
        return self.env(
            t,
            "client.health_updated",
            client.tenant.name,
            "crm",
            {
                "client_id": client.id,
                "health_score": round(client.health, 1),
            },
        )

    def _service_requested(self, t: int, ten: _Tenant) -> _Event:
        rng = self.rng
        client = ten.pick.pick(rng.random())
        request_id = f"srv-{ten.name}-{next(ten.counter):06d}"
        return self.env(
            t,
            "service.requested",
            ten.name,
            "field-service",
            {
                "request_id": request_id,
                "client_id": client.id,
                "region": client.region,
                "service_type": rng.choice(_SERVICE_TYPES),
                "urgency": _URGENCY.pick(rng.random()),
            },
            request_id,
        )

    def _kb_article(self, t: int, ten: _Tenant) -> _Event:
        rng = self.rng
        cat = self.categories.pick(rng.random())
        every = self.cfg.kb_article_every_h * _HOUR
        self.push(t + int(every * rng.uniform(0.5, 1.5)), self._kb_article, ten)
        details = self._details()
        body = (
            f"Symptom: {rng.choice(cat.descriptions).format_map(details)}\n\n"
            f"Fix: {rng.choice(cat.resolutions)[1]}\n\n"
            f"Queue: {self.queue_of[cat.name]}."
        )
        return self.env(
            t,
            "kb.article_created",
            ten.name,
            "kb",
            {
                "article_id": f"kb-{ten.name}-{next(ten.counter):06d}",
                "title": rng.choice(cat.kb_titles),
                "body": body,
                "category": cat.name,
            },
        )

    # -- agents --------------------------------------------------------------------------

    def _agent_login(self, t: int, ag: _Agent) -> _Event | None:
        rng = self.rng
        weekend = (ag.shift_day // _DAY + 3) % 7 >= 5
        if rng.random() >= (0.3 if weekend else 0.92):  # day off
            ag.shift_day += _DAY
            self.push(
                ag.shift_day + ag.shift_h * _HOUR + rng.randrange(15 * _MIN), self._agent_login, ag
            )
            return None
        ag.shift_end = ag.shift_day + ag.shift_h * _HOUR + _SHIFT_MS + rng.randrange(30 * _MIN)
        ag.tenant.on_shift.append(ag)
        return self._agent_status(t, ag, "active")

    def _agent_toggle(self, t: int, ag: _Agent) -> _Event:
        rng = self.rng
        if t >= ag.shift_end:
            ag.tenant.on_shift.remove(ag)
            ag.shift_day += _DAY
            self.push(
                ag.shift_day + ag.shift_h * _HOUR + rng.randrange(15 * _MIN), self._agent_login, ag
            )
            return self._agent_status(t, ag, "offline")
        return self._agent_status(t, ag, _NEXT_STATUS[ag.status].pick(rng.random()))

    def _agent_status(self, t: int, ag: _Agent, status: str) -> _Event:
        ag.status = status
        if status != "offline":
            nxt = self.after(t, _DWELL_MIN[status] * _MIN, 30 * _SEC)
            self.push(min(nxt, ag.shift_end), self._agent_toggle, ag)
        return self.env(
            t,
            "agent.status_changed",
            ag.tenant.name,
            "wfm",
            {
                "agent_id": ag.id,
                "status": status,
                "team": ag.team,
            },
            None,
        )

    # -- sessions ------------------------------------------------------------------------

    def _session_queued(self, t: int, ten: _Tenant) -> _Event:
        rng = self.rng
        channel = _SESSION_CHANNEL.pick(rng.random())
        if channel == "chat":
            messages = rng.randrange(3, 15)
        elif channel in ("phone", "video"):
            messages = rng.randrange(0, 4)
        else:
            messages = rng.randrange(1, 5)
        queue = self.queue_of[self.categories.pick(rng.random()).name]
        ss = _Session(f"ses-{ten.name}-{next(ten.counter):06d}", ten, channel, queue, messages)
        surge = ten.surges.get(queue) if ten.surges else None
        if surge is not None:  # the queue is backed up: wait in line behind the surge
            surge.waiting.append(ss)
        else:
            mean_wait = 60 * _SEC if ten.on_shift else 10 * _MIN  # nobody on shift: long
            self.push(self.after(t, mean_wait, 5 * _SEC), self._session_started, ss)
        return self._session_event(t, "session.queued", ss)

    def _session_event(self, t: int, event_type: str, ss: _Session) -> _Event:
        return self.env(
            t,
            event_type,
            ss.tenant.name,
            "contact-center",
            {
                "session_id": ss.id,
                "channel": ss.channel,
                "queue": ss.queue,
                "agent_id": ss.agent.id if ss.agent else None,
            },
            ss.id,
        )

    def _session_started(self, t: int, ss: _Session) -> _Event:
        ss.agent = self._pick_agent(ss.tenant, ss.queue)
        self._session_next(t, ss)
        return self._session_event(t, "session.started", ss)

    def _session_next(self, t: int, ss: _Session) -> None:
        gap = 30 * _SEC if ss.channel == "chat" else 2 * _MIN
        if ss.left > 0:
            self.push(self.after(t, gap, 2 * _SEC), self._message_sent, ss)
        else:
            self.push(self.after(t, 2 * gap, 5 * _SEC), self._session_ended, ss)

    def _message_sent(self, t: int, ss: _Session) -> _Event:
        rng = self.rng
        ss.left -= 1
        self._session_next(t, ss)
        kinds = _KIND_TEXT if ss.channel in ("chat", "email", "portal") else _KIND_CALL
        return self.env(
            t,
            "message.sent",
            ss.tenant.name,
            "contact-center",
            {
                "session_id": ss.id,
                "sender": "customer" if rng.random() < 0.5 else "agent",
                "kind": kinds.pick(rng.random()),
            },
            ss.id,
        )

    def _session_ended(self, t: int, ss: _Session) -> _Event:
        return self._session_event(t, "session.ended", ss)

    # -- stories (see the module docstring) ----------------------------------------------

    def _seed_stories(self, ten: _Tenant) -> None:
        cfg, t0, i = self.cfg, self.now, ten.index
        if not cfg.stories:
            return
        if cfg.story_queue_surge:
            opening = t0 + _SURGE_OPENING_MS + (i % 4) * 20 * _MIN
            self.push(opening, self._surge_begin, (ten, cfg.queues[i % len(cfg.queues)]))
            self.push(self._next_daily_surge(ten, opening + _SURGE_GAP_MS), self._surge_daily, ten)
        if cfg.story_urgent_breach:
            self.push(t0 + _URGENT_START_MS + (i % 4) * 10 * _MIN, self._urgent_breach, ten)
        if ten.scripted:
            self._schedule_arc(ten, t0 + _ARC_START_MS + (i % 4) * 30 * _MIN)

    # queue backing up

    def _next_daily_surge(self, ten: _Tenant, after: int) -> int:
        """The first weekday surge slot of ``ten`` at or after ``after``."""
        day = after - after % _DAY
        while True:
            at = day + _SURGE_HOUR * _HOUR + (ten.index % 4) * 5 * _MIN
            if at >= after and (day // _DAY + 3) % 7 < 5:  # 1970-01-01 was a Thursday
                return at
            day += _DAY

    def _surge_daily(self, t: int, ten: _Tenant) -> None:
        self.push(self._next_daily_surge(ten, t + _HOUR), self._surge_daily, ten)
        queues = self.cfg.queues
        self._surge_begin(t, (ten, queues[(t // _DAY + ten.index) % len(queues)]))

    def _surge_begin(self, t: int, arg: tuple[_Tenant, str]) -> None:
        ten, queue = arg
        if queue in ten.surges:  # the last one is still draining: let it
            return
        usual = self.cfg.tickets_per_hour * _SESSION_RATIO * self.queue_share.get(queue, 0.0)
        per_hour = max(_SURGE_FACTOR * usual, _SURGE_MIN_PER_HOUR)
        surge = _Surge(ten, queue, t + _SURGE_MS, _HOUR / per_hour)
        ten.surges[queue] = surge
        self.push(t, self._surge_arrival, surge)
        self.push(t + int(surge.interval / _SURGE_PICKUP), self._surge_pickup, surge)

    def _surge_arrival(self, t: int, surge: _Surge) -> _Event | None:
        """One more chat in the surging queue; near-even spacing keeps the peak reliable."""
        if t >= surge.end:
            return None
        rng, ten = self.rng, surge.tenant
        self.push(t + int(surge.interval * rng.uniform(0.5, 1.5)), self._surge_arrival, surge)
        sid = f"ses-{ten.name}-{next(ten.counter):06d}"
        ss = _Session(sid, ten, "chat", surge.queue, rng.randrange(3, 15))
        surge.waiting.append(ss)
        return self._session_event(t, "session.queued", ss)

    def _surge_pickup(self, t: int, surge: _Surge) -> _Event | None:
        """Start the longest-waiting session: at half the arrival rate while the surge
        lasts, at the full rate afterwards; the surge ends once its backlog is empty."""
        draining = t >= surge.end
        event = None
        if surge.waiting:
            event = self._session_started(t, surge.waiting.popleft())
        elif draining:
            del surge.tenant.surges[surge.queue]
            return None
        gap = surge.interval if draining else surge.interval / _SURGE_PICKUP
        self.push(t + int(gap * self.rng.uniform(0.5, 1.5)), self._surge_pickup, surge)
        return event

    # scripted tickets

    def _scripted_ticket(
        self, t: int, arg: tuple[_Tenant, _Client | None, str, str, _Script]
    ) -> tuple[_Ticket, _Event]:
        """Create a ticket whose whole lifecycle follows ``script``; ``None``: any client."""
        ten, client, category, prio, script = arg
        rng = self.rng
        if client is None:
            client = ten.pick.pick(rng.random())
        tk = self._new_ticket(ten, client, self.category[category], prio)
        details = self._details()

        def at(offset: int, handler: _Handler, step: Any) -> None:
            # under a minute of jitter: scripts keep their order, stamps look organic
            self.push(t + offset + rng.randrange(_MIN), handler, step)

        at(script.assign, self._scripted_assigned, tk)
        at(script.respond, self._scripted_first_response, tk)
        at(script.resolve, self._scripted_resolved, tk)
        if script.csat_at is not None:
            at(script.csat_at, self._scripted_csat, (tk, script.csat))
        if script.reopen_at is not None:
            at(script.reopen_at, self._scripted_reopened, tk)
            at(script.reresolve_at, self._scripted_resolved, tk)
        return tk, self._created_event(t, tk, details)

    def _scripted_assigned(self, t: int, tk: _Ticket) -> _Event:
        tk.agent = self._pick_agent(tk.tenant, tk.queue)
        return self._assigned_event(t, tk, "auto")

    def _scripted_first_response(self, t: int, tk: _Ticket) -> _Event:
        return self._first_response_event(t, tk)

    def _scripted_resolved(self, t: int, tk: _Ticket) -> _Event:
        return self._resolved_event(t, tk, self._resolution(tk.category))

    def _scripted_reopened(self, t: int, tk: _Ticket) -> _Event:
        tk.reopened = True
        return self._ticket_env(t, "ticket.reopened", tk, {"ticket_id": tk.id})

    def _scripted_csat(self, t: int, arg: tuple[_Ticket, int]) -> _Event:
        tk, rating = arg
        comment = self.rng.choice(_COMMENTS_BAD) if rating <= 2 else None
        return self._csat_event(t, tk, rating, comment)

    # breached urgent tickets

    def _urgent_breach(self, t: int, ten: _Tenant) -> _Event:
        """Daily: an outage resolved 150-180 min after creation, and 20 min later an
        urgent login problem resolved within 35-45 min."""
        self.push(t + _DAY, self._urgent_breach, ten)
        self.push(t + 20 * _MIN, self._urgent_in_time, ten)
        late = _URGENT_LATE
        script = _Script(late.assign, late.respond, late.resolve + self.rng.randrange(30 * _MIN))
        return self._scripted_ticket(t, (ten, None, "outage", "urgent", script))[1]

    def _urgent_in_time(self, t: int, ten: _Tenant) -> _Event:
        ok = _URGENT_IN_TIME
        script = _Script(ok.assign, ok.respond, ok.resolve + self.rng.randrange(10 * _MIN))
        return self._scripted_ticket(t, (ten, None, "login_issue", "urgent", script))[1]

    # client sliding into risk

    def _schedule_arc(self, ten: _Tenant, start: int) -> None:
        """Push every step of the at-risk arc (timeline in the module docstring)."""
        arc = _Arc(ten.clients[0])

        def at(hours: float, handler: _Handler, arg: Any) -> None:
            # steps are >= 1 h apart (or unordered): 10 min of jitter never reorders them
            self.push(start + int(hours * _HOUR) + self.rng.randrange(10 * _MIN), handler, arg)

        t1 = _Script(
            assign=3 * _MIN,
            respond=25 * _MIN,
            resolve=3 * _HOUR,
            csat_at=4 * _HOUR,
            reopen_at=44 * _HOUR,
            reresolve_at=47 * _HOUR,
        )
        t2 = _Script(assign=2 * _MIN, respond=30 * _MIN, resolve=6 * _HOUR, csat_at=7 * _HOUR)
        at(0, self._arc_health, (arc, 80.0))
        at(1, self._arc_complaint, (arc, "c1", "medium", "performance", None))
        at(2, self._arc_ticket, (arc, "t1", "performance", "normal", t1))
        at(12, self._arc_health, (arc, 72.0))
        at(16, self._arc_complaint_resolved, (arc, "c1"))
        at(18, self._arc_complaint, (arc, "c2", "high", "performance", "t1"))
        at(28, self._arc_health, (arc, 66.0))
        at(35, self._arc_ticket, (arc, "t2", "integration_error", "high", t2))
        at(38, self._arc_escalated, (arc, "c2"))
        at(44, self._arc_health, (arc, 45.0))
        at(48, self._arc_complaint, (arc, "c3", "critical", "integration_error", "t2"))
        at(52, self._arc_health, (arc, 25.0))
        at(52, self._arc_complaint_resolved, (arc, "c2"))
        at(56, self._arc_rejoin, arc)
        at(60, self._arc_complaint_resolved, (arc, "c3"))

    def _arc_health(self, t: int, arg: tuple[_Arc, float]) -> _Event:
        arc, score = arg
        client = arc.client
        client.health = score
        payload = {"client_id": client.id, "health_score": score}
        return self.env(t, "client.health_updated", client.tenant.name, "crm", payload)

    def _arc_ticket(self, t: int, arg: tuple[_Arc, str, str, str, _Script]) -> _Event:
        arc, name, category, prio, script = arg
        client = arc.client
        tk, event = self._scripted_ticket(t, (client.tenant, client, category, prio, script))
        arc.tickets[name] = tk
        return event

    def _arc_complaint(self, t: int, arg: tuple[_Arc, str, str, str, str | None]) -> _Event:
        arc, name, severity, category, ticket = arg
        client, ten = arc.client, arc.client.tenant
        cat = self.category[category]
        cp = _Complaint(f"cmp-{ten.name}-{next(ten.counter):06d}", ten, client, severity, cat)
        arc.complaints[name] = cp
        return self._complaint_event(t, cp, arc.tickets[ticket].id if ticket else None)

    def _arc_escalated(self, t: int, arg: tuple[_Arc, str]) -> _Event:
        arc, name = arg
        return self._escalated_event(t, arc.complaints[name])

    def _arc_complaint_resolved(self, t: int, arg: tuple[_Arc, str]) -> _Event:
        arc, name = arg
        return self._complaint_resolved(t, arc.complaints[name])

    def _arc_rejoin(self, t: int, arc: _Arc) -> None:
        """The arc is over: back into random traffic, as a troubled client."""
        client, ten = arc.client, arc.client.tenant
        client.base_health = _ARC_REJOIN_HEALTH
        index = ten.clients.index(client)
        ten.scripted.discard(index)
        ten.troubled.add(index)
        ten.reweight()
        self.push(t + int(_DAY * self.rng.uniform(0.8, 1.2)), self._client_health, client)


# ---- dead-letter demo -----------------------------------------------------------------


def invalid_samples(rng: random.Random) -> list[bytes]:
    """Deliberately broken messages, one per failure class the consumer must dead-letter.

    In order: truncated JSON, unknown event type, CSAT rating 7, missing payload field,
    naive timestamp, Latin-1 (non-UTF-8) bytes. Valid in every other respect, so each
    exercises exactly one rejection reason.
    """

    def envelope(
        event_type: str, payload: dict[str, Any], occurred_at: str = "2025-01-06T10:00:00.000Z"
    ) -> dict[str, Any]:
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": event_type,
            "schema_version": 1,
            "tenant_id": "acme",
            "occurred_at": occurred_at,
            "source": "helpdesk",
            "correlation_id": None,
            "payload": payload,
        }

    n = rng.randrange(100_000, 999_999)
    ticket = f"tkt-acme-{n}"
    created = {
        "ticket_id": ticket,
        "client_id": "client-acme-1",
        "channel": "email",
        "queue": "billing",
        "priority": "normal",
        "category": "refund_request",
        "subject": "Remboursement",
        "description": "Commande réglée deux fois.",
        "region": "north",
    }
    csat = {
        "survey_id": f"csat-acme-{n}",
        "ticket_id": ticket,
        "agent_id": "agent-acme-1",
        "client_id": "client-acme-1",
        "rating": 4,
        "comment": None,
    }
    missing = dict(created)
    del missing["queue"]

    def dump(event: dict[str, Any]) -> bytes:
        return json.dumps(event).encode()

    truncated = dump(envelope("ticket.created", created))
    return [
        truncated[: len(truncated) // 2],
        dump(envelope("ticket.teleported", {"ticket_id": ticket})),
        dump(envelope("csat.received", {**csat, "rating": 7})),
        dump(envelope("ticket.created", missing)),
        dump(
            envelope(
                "ticket.assigned",
                {"ticket_id": ticket, "agent_id": "agent-acme-1", "assigned_by": "auto"},
                "2025-01-06T10:00:00",
            )
        ),
        json.dumps(envelope("ticket.created", created), ensure_ascii=False).encode("latin-1"),
    ]
