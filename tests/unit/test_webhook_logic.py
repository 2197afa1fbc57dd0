"""sinks.webhooks pure logic: secrets, full-jitter backoff, filters, state transitions."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from api.models import AlertItem
from api.webhook_models import SubscriptionCreate
from schemas.results import SEVERITY_RANK, Alert
from sinks.webhooks.body import alert_body
from sinks.webhooks.deliveries import (
    CREATION_GRACE,
    AttemptResult,
    Subscription,
    after_attempt,
    delivery_id,
    matches,
    new_delivery,
    next_delay,
)
from sinks.webhooks.policy import validate_url
from sinks.webhooks.signing import new_secret

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
SEVERITIES = list(SEVERITY_RANK)


class MaxJitter(random.Random):
    """Always the top of the jitter range."""

    def uniform(self, a: float, b: float) -> float:
        return b


class MinJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def make_alert(
    kind: str = "coaching", severity: str = "high", tenant: str = "acme", **details: object
) -> Alert:
    return Alert(
        alert_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{kind}/{severity}"),
        tenant_id=tenant,
        kind=kind,
        severity=severity,
        subject_type="agent",
        subject_id="a1",
        title=f"{kind} alert",
        details=details or {"rating": 1},
        event_time=T0,
        fired_at=T0 + timedelta(seconds=3),
    )


def make_sub(
    kinds: tuple[str, ...] = (), min_severity: str = "info", tenant: str = "acme"
) -> Subscription:
    return Subscription(
        subscription_id=uuid.uuid4(),
        tenant_id=tenant,
        url="https://hooks.example.com/x",
        kinds=kinds,
        min_severity=min_severity,
        secret="s3cret",
        created_at=T0,
    )


# --- secrets (signatures: test_webhook_signing.py) -------------------------------------


def test_secrets_are_fresh_and_long() -> None:
    a, b = new_secret(), new_secret()
    assert a != b
    assert a.startswith("whsec_")
    assert len(a) >= 6 + 43


# --- backoff --------------------------------------------------------------------------


def test_backoff_ceiling_doubles_from_base() -> None:
    assert [next_delay(n, 0.05, MaxJitter()) for n in range(1, 6)] == pytest.approx(
        [0.05, 0.1, 0.2, 0.4, 0.8]
    )
    assert [next_delay(n, 1.0, MinJitter()) for n in range(1, 6)] == [0.0] * 5


def test_backoff_is_capped_and_never_overflows() -> None:
    assert next_delay(30, 1.0, MaxJitter(), cap=60.0) == 60.0
    assert next_delay(10_000, 1.0, MaxJitter()) == 3600.0


@given(
    attempt=st.integers(1, 40),
    base=st.floats(0.001, 100.0),
    seed=st.integers(0, 2**32),
)
def test_backoff_within_full_jitter_bounds(attempt: int, base: float, seed: int) -> None:
    delay = next_delay(attempt, base, random.Random(seed))
    assert 0.0 <= delay <= min(3600.0, base * 2 ** (attempt - 1))


def test_backoff_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(7)
    draws = [next_delay(4, 1.0, rng) for _ in range(2000)]  # ceiling 8 s
    assert len(set(draws)) == len(draws)
    assert min(draws) < 0.2
    assert max(draws) > 7.8
    assert 3.7 < sum(draws) / len(draws) < 4.3  # uniform: mean = ceiling / 2


@pytest.mark.parametrize(("attempt", "base"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_backoff_rejects_nonsense(attempt: int, base: float) -> None:
    with pytest.raises(ValueError):
        next_delay(attempt, base, random.Random(1))


# --- matching -------------------------------------------------------------------------


def test_matches_tenant_only() -> None:
    assert matches(make_sub(), make_alert())
    assert not matches(make_sub(tenant="globex"), make_alert())


def test_matches_kinds() -> None:
    sub = make_sub(kinds=("coaching", "sla_breach"))
    assert matches(sub, make_alert("coaching"))
    assert matches(sub, make_alert("sla_breach"))
    assert not matches(sub, make_alert("client_risk"))
    assert matches(make_sub(kinds=()), make_alert("client_risk"))  # empty: every kind


@pytest.mark.parametrize("minimum", SEVERITIES)
@pytest.mark.parametrize("severity", SEVERITIES)
def test_matches_min_severity(minimum: str, severity: str) -> None:
    got = matches(make_sub(min_severity=minimum), make_alert(severity=severity))
    assert got is (SEVERITIES.index(severity) >= SEVERITIES.index(minimum))


def test_matches_alerts_published_from_creation_on() -> None:
    sub, alert = make_sub(), make_alert()
    assert matches(sub, alert, published_at=T0 + timedelta(seconds=1))
    assert matches(sub, alert, published_at=T0 - CREATION_GRACE)  # clock skew tolerated
    assert not matches(sub, alert, published_at=T0 - CREATION_GRACE - timedelta(seconds=1))
    assert not matches(sub, alert, published_at=T0 - timedelta(days=2))
    assert matches(sub, alert, published_at=None)  # unknown: delivered


# --- URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/cxpulse",
        "http://127.0.0.1:8080/x?y=1",
        "HTTPS://Example.com",
        "http://[::1]:9000/",
    ],
)
def test_urls_accepted(url: str) -> None:
    assert validate_url(url) == url
    assert SubscriptionCreate(url=url).url == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "mailto:ops@example.com",
        "//example.com/x",
        "example.com/x",
        "http://",
        "https:///path",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://exa mple.com/",
        "http://example.com/\n",
        "http://example.com/\ud800",
        "https://" + "a" * 2100 + ".com",
    ],
)
def test_urls_rejected(url: str) -> None:
    with pytest.raises(ValueError):
        validate_url(url)
    with pytest.raises(ValidationError):
        SubscriptionCreate(url=url)


def test_subscription_request_validation() -> None:
    req = SubscriptionCreate.model_validate({"url": "https://x.io", "kinds": ["coaching"]})
    assert (req.kinds, req.min_severity) == (["coaching"], "info")
    for bad in (
        {"url": "https://x.io", "kinds": ["nope"]},
        {"url": "https://x.io", "min_severity": "severe"},
        {"url": "https://x.io", "secret": "mine"},  # unknown fields rejected
        {},
    ):
        with pytest.raises(ValidationError):
            SubscriptionCreate.model_validate(bad)


# --- deliveries -----------------------------------------------------------------------


def test_body_is_the_alert_as_the_api_serves_it() -> None:
    alert = make_alert(rating=1, agent="a1", nested={"x": [1, 2.5, None]}, text="née ✓")
    # an alert is delivered as it is raised: its lifecycle state is not in the body
    served = AlertItem(**alert.model_dump())
    assert alert_body(alert) == served.model_dump_json(exclude={"state", "state_at"}).encode()


def test_body_follows_the_alert_row_type() -> None:
    """A field added to ``Alert`` reaches receivers with no change to webhook code."""

    class WiderAlert(Alert):
        region: str
        raised_at: datetime

    alert = WiderAlert(
        **make_alert().model_dump(), region="north", raised_at=datetime(2026, 3, 2, 11)
    )
    doc = json.loads(alert_body(alert))
    assert list(doc) == [*Alert.model_fields, "region", "raised_at"]
    assert (doc["region"], doc["raised_at"]) == ("north", "2026-03-02T11:00:00+00:00")


def test_delivery_id_is_deterministic_per_subscription_and_alert() -> None:
    sub_a, sub_b = make_sub(), make_sub()
    a1, a2 = make_alert("coaching"), make_alert("sla_breach")
    assert delivery_id(sub_a.subscription_id, a1.alert_id) == delivery_id(
        sub_a.subscription_id, a1.alert_id
    )
    ids = {delivery_id(s.subscription_id, a.alert_id) for s in (sub_a, sub_b) for a in (a1, a2)}
    assert len(ids) == 4
    d = new_delivery(sub_a, a1, T0)
    assert d.delivery_id == delivery_id(sub_a.subscription_id, a1.alert_id)
    assert (d.status, d.attempts, d.next_attempt_at) == ("pending", 0, T0)


def test_after_attempt_transitions() -> None:
    d = new_delivery(make_sub(), make_alert(), T0)
    fail = AttemptResult(status_code=503, error="HTTP 503", duration_ms=3.0)
    timeout = AttemptResult(status_code=None, error="timeout", duration_ms=10_000.0)
    ok = AttemptResult(status_code=204, error="", duration_ms=2.0)
    kw: dict[str, Any] = {"max_attempts": 3, "base": 0.5, "rng": MaxJitter()}

    d1, o1 = after_attempt(d, fail, T0, **kw)
    assert (o1, d1.status, d1.attempts, d1.last_status_code) == ("retry", "pending", 1, 503)
    assert d1.next_attempt_at == T0 + timedelta(seconds=0.5)
    d2, o2 = after_attempt(d1, timeout, T0, **kw)
    assert (o2, d2.status, d2.attempts, d2.last_status_code) == ("retry", "pending", 2, None)
    assert d2.next_attempt_at == T0 + timedelta(seconds=1.0)  # ceiling doubled
    assert d2.last_error == "timeout"
    d3, o3 = after_attempt(d2, fail, T0, **kw)
    assert (o3, d3.status, d3.attempts) == ("dead", "dead", 3)

    ok1, o = after_attempt(d1, ok, T0, **kw)
    assert (o, ok1.status, ok1.attempts, ok1.last_status_code, ok1.last_error) == (
        "delivered",
        "delivered",
        2,
        204,
        "",
    )
    assert ok1.body == d.body
    assert ok1.delivery_id == d.delivery_id


@pytest.mark.parametrize(("code", "ok"), [(200, True), (299, True), (301, False), (404, False)])
def test_only_2xx_counts_as_delivered(code: int, ok: bool) -> None:
    assert AttemptResult(status_code=code, error="", duration_ms=1.0).ok is ok
