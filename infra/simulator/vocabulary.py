"""What simulated customers write and how often: problem categories with their texts
and fixes, products and comments, and the weighted choices and rates that drive traffic.

Kept as data apart from the engine, so benchmarks (e.g. the KB quality bench) can draw
tickets in the same vocabulary.
"""

from __future__ import annotations

import itertools
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from infra.simulator.timeline import HOUR

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Category:
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

CATEGORIES: tuple[Category, ...] = (
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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
    Category(
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

PRODUCTS = ("Router X2", "Smart Hub", "Desk Phone P4", "Headset H7", "Dashboard", "Mobile App")
BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
INTEGRATIONS = ("Salesforce", "Slack", "SAP", "HubSpot", "Zendesk")
PLANS = ("Starter", "Team", "Business", "Enterprise")
SERVICE_TYPES = ("installation", "repair", "maintenance", "inspection", "replacement")

COMMENTS_BAD = (
    "Took far too long to get an answer.",
    "The problem is not really solved.",
    "The agent did not understand the issue.",
    "I had to explain everything twice.",
)
COMMENTS_MID = ("OK in the end.", "Solved, but slow.", "Fine.")
COMMENTS_GOOD = ("Quick and friendly, thanks!", "Great support, problem solved.", "Very helpful.")
COMPLAINTS = (
    "Repeated {category} problems; this is the {n}th time this month.",
    "Unacceptable response time on our {category} ticket.",
    "Still no fix for {category} after {days} days. We are considering cancelling.",
    "Your agent closed our {category} ticket without solving anything.",
)


class Weighted(Generic[_T]):
    """Weighted choice by bisecting cumulative weights: one ``random()`` call per pick."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: Sequence[tuple[_T, float]]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))
        self.total = self.cum[-1] if self.cum else 0.0

    def pick(self, r: float) -> _T:
        """``r`` is a uniform draw in [0, 1)."""
        return self.items[bisect(self.cum, r * self.total)]


PRIORITY = Weighted([("low", 0.25), ("normal", 0.5), ("high", 0.18), ("urgent", 0.07)])
PRIORITY_SEVERE = Weighted([("normal", 0.3), ("high", 0.4), ("urgent", 0.3)])
# mean minutes to first response / handle-time factor, per priority
FIRST_RESPONSE_MIN = {"low": 120.0, "normal": 45.0, "high": 15.0, "urgent": 6.0}
HANDLE_FACTOR = {"low": 1.3, "normal": 1.0, "high": 0.8, "urgent": 0.6}
CHANNEL = Weighted([("email", 0.35), ("portal", 0.25), ("chat", 0.25), ("phone", 0.15)])
SESSION_CHANNEL = Weighted(
    [("chat", 0.55), ("phone", 0.25), ("video", 0.08), ("email", 0.06), ("portal", 0.06)]
)
KIND_TEXT = Weighted(
    [("text", 0.8), ("image", 0.08), ("file", 0.07), ("audio", 0.03), ("video", 0.02)]
)
KIND_CALL = Weighted([("audio", 0.4), ("file", 0.25), ("image", 0.2), ("video", 0.15)])
URGENCY = Weighted([("low", 0.3), ("normal", 0.45), ("high", 0.18), ("urgent", 0.07)])
SEVERITY = Weighted([("low", 0.35), ("medium", 0.4), ("high", 0.2), ("critical", 0.05)])
SEVERITY_TROUBLED = Weighted([("low", 0.1), ("medium", 0.35), ("high", 0.4), ("critical", 0.15)])
SEVERITY_UP = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}
ESCALATE_P = {"low": 0.05, "medium": 0.15, "high": 0.35, "critical": 0.6}
# (start hour UTC, weight): business hours well covered, a thin night shift
SHIFTS = Weighted([(6, 2.0), (8, 4.0), (9, 4.0), (12, 3.0), (14, 3.0), (22, 1.0)])
SHIFT_MS = 8 * HOUR
# agent status machine: next status weights and mean dwell (minutes) per status
NEXT_STATUS = {
    "active": Weighted([("idle", 0.4), ("in_call", 0.6)]),
    "idle": Weighted([("active", 0.5), ("in_call", 0.5)]),
    "in_call": Weighted([("active", 0.6), ("idle", 0.4)]),
}
DWELL_MIN = {"active": 8.0, "idle": 6.0, "in_call": 12.0}

# Stream rates relative to tickets_per_hour (per tenant, at peak demand).
SESSION_RATIO = 0.6
SERVICE_RATIO = 0.2
COMPLAINT_RATIO = 0.03
CSAT_P = 0.4
TROUBLED_P = 0.04
