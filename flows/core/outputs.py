"""Every output of the dataflow, as one typed key each, defined once.

A ``SinkKey[T]`` names an output and the row type it takes; ``FlowIO.sink(key)``
returns a ``Sink[T]``, so wiring a stream into an output of another row type is a mypy
error rather than rows in the wrong table. The runner maps each key to its ClickHouse
table or Kafka topic; tests map them to lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from schemas.alert_lifecycle import AlertAction, AlertStateChange
from schemas.demand import BacktestRow, DemandHourly, ForecastSnapshot
from schemas.kb import KbSuggestion
from schemas.ops import AgentBoardRow, OpsSnapshot, QueueRow
from schemas.privacy import Erasure
from schemas.results import AgentWindow, Alert, DeadLetter, LateEvent
from schemas.risk import ClientRisk
from schemas.routing import RoutingDecision, RoutingRecommendation
from schemas.transport import Accepted

T = TypeVar("T")


@dataclass(frozen=True)
class SinkKey(Generic[T]):
    """An output: its name (the key of the runner's table) and the rows it takes."""

    name: str
    row_type: type[T]


EVENTS = SinkKey("events", Accepted)
DEAD_LETTERS = SinkKey("dead_letters", DeadLetter)
DLQ_TOPIC = SinkKey("dlq_topic", DeadLetter)
AGENT_PERFORMANCE = SinkKey("agent_performance", AgentWindow)
LATE_EVENTS = SinkKey("late_events", LateEvent)
ALERTS = SinkKey("alerts", Alert)
ALERTS_TOPIC = SinkKey("alerts_topic", Alert)
OPS_SNAPSHOTS = SinkKey("ops_snapshots", OpsSnapshot)
OPS_QUEUE_SNAPSHOTS = SinkKey("ops_queue_snapshots", QueueRow)
OPS_AGENT_BOARD = SinkKey("ops_agent_board", AgentBoardRow)
CLIENT_RISK = SinkKey("client_risk", ClientRisk)
DEMAND_HOURLY = SinkKey("demand_hourly", DemandHourly)
DEMAND_FORECAST = SinkKey("demand_forecast", ForecastSnapshot)
DEMAND_BACKTEST = SinkKey("demand_backtest", BacktestRow)
KB_SUGGESTIONS = SinkKey("kb_suggestions", KbSuggestion)
# routing (issue #15): recommendations (table and the <prefix>routing topic), decisions
ROUTING_RECOMMENDATIONS = SinkKey("routing_recommendations", RoutingRecommendation)
ROUTING_TOPIC = SinkKey("routing_topic", RoutingRecommendation)
ROUTING_DECISIONS = SinkKey("routing_decisions", RoutingDecision)
# an erasure the flows have applied (its receipt, status applied; issue #13)
ERASURES = SinkKey("erasures", Erasure)
# a threshold episode that ended resolves its alert (actor system), stored and announced
ALERT_ACTIONS = SinkKey("alert_actions", AlertAction)
# the alerts topic fed alerts and their state changes through one producer, in order (a
# change never precedes its alert in the topic's log); row_type: Alert | AlertStateChange
ALERT_FEED_TOPIC: SinkKey[Alert | AlertStateChange] = SinkKey(
    "alert_feed_topic",
    cast("type[Alert | AlertStateChange]", object),
)

ALL_OUTPUTS: tuple[SinkKey[Any], ...] = (
    EVENTS,
    DEAD_LETTERS,
    DLQ_TOPIC,
    AGENT_PERFORMANCE,
    LATE_EVENTS,
    ALERTS,
    ALERTS_TOPIC,
    OPS_SNAPSHOTS,
    OPS_QUEUE_SNAPSHOTS,
    OPS_AGENT_BOARD,
    CLIENT_RISK,
    DEMAND_HOURLY,
    DEMAND_FORECAST,
    DEMAND_BACKTEST,
    KB_SUGGESTIONS,
    ERASURES,
    ALERT_ACTIONS,
    ALERT_FEED_TOPIC,
    ROUTING_RECOMMENDATIONS,
    ROUTING_TOPIC,
    ROUTING_DECISIONS,
)
