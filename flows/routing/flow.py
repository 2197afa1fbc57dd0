"""Routing dataflow: agent statuses, ticket lifecycles, CSAT and new complaints ->
recommendations (table and ``<prefix>routing`` topic), decisions, and the
``routing_unavailable`` alerts with their system resolutions, one step per tenant."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.core.clock import Tick
from flows.core.clock_flow import per_tenant
from flows.core.io import FlowIO
from flows.core.outputs import (
    ALERT_ACTIONS,
    ALERT_FEED_TOPIC,
    ALERTS,
    ROUTING_DECISIONS,
    ROUTING_RECOMMENDATIONS,
    ROUTING_TOPIC,
)
from flows.core.wiring import Emitted, letters, pick, pick_out
from flows.routing.stateful import RoutingLogic
from flows.routing.tenant import ROUTING_EVENT_TYPES
from schemas.alert_lifecycle import AlertStateChange
from schemas.results import Alert
from schemas.routing import RoutingRecommendation
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


def alert_feed(item: object) -> Alert | AlertStateChange | None:
    """What goes to the alerts topic, in the step's output order."""
    return item if isinstance(item, Alert | AlertStateChange) else None


def add_routing(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Emitted:
    out = per_tenant("routing", events, ROUTING_EVENT_TYPES, ticks, partial(RoutingLogic, cfg))
    recs = pick("routing_recs", out, RoutingRecommendation)
    op.output("routing_recommendations_out", recs, io.sink(ROUTING_RECOMMENDATIONS))
    op.output("routing_topic_out", recs, io.sink(ROUTING_TOPIC))
    pick_out(io, "routing_decisions", "routing_decisions_out", out, ROUTING_DECISIONS)
    # the unroutable alerts and their resolutions: stored, and published through one
    # sink so a state change never precedes its alert on the alerts topic (as live ops)
    pick_out(io, "routing_alerts", "routing_alerts_out", out, ALERTS)
    pick_out(io, "routing_actions", "routing_actions_out", out, ALERT_ACTIONS)
    feed: Stream[Alert | AlertStateChange] = op.filter_map("routing_feed", out, alert_feed)
    op.output("routing_feed_out", feed, io.sink(ALERT_FEED_TOPIC))
    return Emitted(None, letters("routing_dead_letters", ("routing_letters", out)))
