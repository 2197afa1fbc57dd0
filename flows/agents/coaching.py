"""Coaching alert rule: a low CSAT rating flags the agent for a supervisor's look."""

from __future__ import annotations

from datetime import datetime

from flows.agents.facts import LOW_CSAT_MAX
from schemas.events import CsatReceived, Event
from schemas.ids import stable_id
from schemas.results import Alert, AlertSeverity

# the survey's ids and figures a supervisor needs next to the rating; never its comment:
# alerts leave through webhooks and streams, the comment is free text
# (schemas.events.FreeText) and stays in the stored event, so the alert only says
# whether there is one
_EVIDENCE = {"rating", "ticket_id", "client_id", "survey_id"}


def coaching_alert(event: Event, fired_at: datetime) -> Alert | None:
    """An alert for a rating <= 2 (1 is high severity, 2 medium); else None."""
    p = event.payload
    if not isinstance(p, CsatReceived) or p.rating > LOW_CSAT_MAX:
        return None
    severity: AlertSeverity = "high" if p.rating == 1 else "medium"
    return Alert(
        alert_id=stable_id("coaching", event.event_id),
        tenant_id=event.tenant_id,
        kind="coaching",
        severity=severity,
        subject_type="agent",
        subject_id=p.agent_id,
        title=f"Low CSAT ({p.rating}/5) for agent {p.agent_id}",
        details={
            **p.model_dump(mode="json", include=_EVIDENCE),
            "has_comment": bool(p.comment),
            "event_id": str(event.event_id),
        },
        event_time=event.occurred_at,
        fired_at=fired_at,
    )
