""" "No eligible agent" episodes of one tenant, and their one alert each.

The threshold rules of live ops judge live-ops metrics; eligibility lives in the routing
state, and capabilities do not import each other, so this is the same semantics written
for routing alone (see README "Routing: no eligible agent"):

* a recommendation with no eligible agent starts an *episode* at its event time
  (``since``) unless one is open; further unroutable subjects count into it;
* at the first decision point (a routing event, or the tenant's watermark) at least
  ``unroutable_alert_after_s`` after ``since`` (exactly counts), one alert of kind
  ``routing_unavailable`` fires with ``event_time = since + unroutable_alert_after_s``
  (a function of the input alone, so a replay rewrites it) and ``alert_id =
  stable_id("routing_unavailable", tenant, since)``;
* the first agent to become eligible ends the episode; if its alert fired, the system
  resolves it (an ``AlertAction`` and the ``AlertStateChange`` for the stream). A later
  unroutable subject starts a new episode.

Details carry ids and figures only: no free text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flows.core.timeutil import from_ms
from schemas.alert_lifecycle import AlertAction, AlertStateChange
from schemas.ids import stable_id
from schemas.results import Alert
from schemas.routing import NO_ELIGIBLE_AGENT, RoutingModel

UnroutableOut = Alert | AlertAction | AlertStateChange
KIND = "routing_unavailable"


@dataclass
class Unroutable:
    """The tenant's open episode, if any (picklable: part of the routing state)."""

    since_ms: int | None = None
    subjects: int = 0  # unroutable tickets and complaints in the episode
    alert: Alert | None = None

    def start(self, at_ms: int) -> None:
        """A subject found no eligible agent at ``at_ms``."""
        if self.since_ms is None:
            self.since_ms, self.subjects, self.alert = at_ms, 0, None
        self.subjects += 1

    def due(
        self, tenant_id: str, model: RoutingModel, at_ms: int, fired_at: datetime
    ) -> Iterable[UnroutableOut]:
        """The episode's alert, once it has lasted long enough by ``at_ms``."""
        if self.since_ms is None or self.alert is not None:
            return ()
        fires_ms = self.since_ms + int(model.unroutable_alert_after_s * 1000)
        if at_ms < fires_ms:
            return ()
        self.alert = Alert(
            alert_id=stable_id(KIND, tenant_id, self.since_ms),
            tenant_id=tenant_id,
            kind=KIND,
            severity=model.unroutable_severity,
            subject_type="routing",
            subject_id=NO_ELIGIBLE_AGENT,
            title=(
                f"No eligible agent for {model.unroutable_alert_after_s:g}s "
                f"({self.subjects} unroutable)"
            ),
            details={
                "reason": NO_ELIGIBLE_AGENT,
                "since": from_ms(self.since_ms).isoformat(),
                "for_s": model.unroutable_alert_after_s,
                "unroutable_subjects": self.subjects,
            },
            event_time=from_ms(fires_ms),
            fired_at=fired_at,
        )
        return (self.alert,)

    def end(self, tenant_id: str, at_ms: int) -> Iterable[UnroutableOut]:
        """An agent became eligible at ``at_ms``: the episode ends, its alert resolved."""
        alert, self.since_ms, self.subjects, self.alert = self.alert, None, 0, None
        if alert is None:
            return ()
        action = AlertAction.of(tenant_id, alert.alert_id, "resolve", "system", from_ms(at_ms))
        return (action, AlertStateChange.of(alert, action))
