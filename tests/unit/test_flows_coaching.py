"""flows.agents.coaching: a low CSAT rating raises a coaching alert about the agent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.agents.coaching import coaching_alert
from schemas.events import PAYLOADS
from schemas.ids import stable_id
from schemas.results import Alert
from tests.unit.helpers import at, csat, make_event, uid

FIRED = datetime(2025, 1, 6, 12, tzinfo=UTC)


@pytest.mark.parametrize(("rating", "severity"), [(1, "high"), (2, "medium")])
def test_low_rating_raises_an_alert(rating: int, severity: str) -> None:
    ev = csat("tk-9", "ag-3", rating, at(42), tenant="acme", comment="slow")
    alert = coaching_alert(ev, FIRED)
    assert isinstance(alert, Alert)
    assert alert.severity == severity
    assert alert.kind == "coaching"
    assert alert.tenant_id == "acme"
    assert (alert.subject_type, alert.subject_id) == ("agent", "ag-3")
    assert alert.event_time == ev.occurred_at == at(42)
    assert alert.fired_at == FIRED
    assert f"{rating}/5" in alert.title
    assert "ag-3" in alert.title
    assert alert.details == {
        "rating": rating,
        "ticket_id": "tk-9",
        "client_id": "cl-1",
        "survey_id": "sv-tk-9",
        "has_comment": True,
        "event_id": str(ev.event_id),
    }
    assert "slow" not in alert.model_dump_json()  # the comment is free text: never copied


@pytest.mark.parametrize("rating", [3, 4, 5])
def test_ok_ratings_raise_nothing(rating: int) -> None:
    assert coaching_alert(csat("tk", "ag-1", rating, at(0)), FIRED) is None


@pytest.mark.parametrize("event_type", sorted(set(PAYLOADS) - {"csat.received"}))
def test_other_event_types_raise_nothing(event_type: str) -> None:
    assert coaching_alert(make_event(event_type), FIRED) is None


def test_alert_id_is_deterministic_per_event() -> None:
    ev = csat("tk", "ag-1", 1, at(0), event_id=uid("survey", 1))
    first = coaching_alert(ev, FIRED)
    again = coaching_alert(ev, datetime(2030, 1, 1, tzinfo=UTC))  # a replay, later
    other = coaching_alert(csat("tk", "ag-1", 1, at(0), event_id=uid("survey", 2)), FIRED)
    assert first is not None
    assert again is not None
    assert other is not None
    assert first.alert_id == again.alert_id == stable_id("coaching", ev.event_id)
    assert other.alert_id != first.alert_id


def test_comment_is_optional() -> None:
    alert = coaching_alert(csat("tk", "ag-1", 2, at(0)), FIRED)
    assert alert is not None
    assert alert.details["has_comment"] is False
