"""Prometheus metrics of cxpulse (``cxpulse_`` prefix), in the process-wide registry.

Metrics are the one deliberate piece of process-global state: Prometheus scrapes one
registry per process, and `cxpulse up` serves flows and API from the same process.
Names here are the contract with dashboards; add, don't rename.
It sits at the bottom (with the settings) because the Kafka source, the sinks and the
API all count into it.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from schemas.results import Alert, DeadLetter, LateEvent

EVENTS_IN = Counter("cxpulse_events_in_total", "Messages read from the events topic", ["partition"])
ROWS_WRITTEN = Counter(
    "cxpulse_rows_written_total", "Rows written to ClickHouse, by table", ["table"]
)
DEAD_LETTERS = Counter(
    "cxpulse_dead_letters_total", "Rejected input messages, by reason", ["reason"]
)
DEAD_LETTERS_UNSTORED = Counter(
    "cxpulse_dead_letters_unstored_total",
    "Dead letters of sink errors that could not be stored either (logged at ERROR)",
    ["sink"],
)
LATE_EVENTS = Counter("cxpulse_late_events_total", "Events behind the watermark", ["flow"])
ALERTS = Counter(
    "cxpulse_alerts_total", "Alerts raised, by kind and severity", ["kind", "severity"]
)
CONSUMER_LAG = Gauge(
    "cxpulse_consumer_lag_messages", "End offset minus next offset to read", ["partition"]
)
SINK_BATCH_ROWS = Histogram(
    "cxpulse_sink_batch_rows",
    "Rows per sink batch",
    ["sink"],
    buckets=(1, 10, 100, 500, 1000, 5000, 10000, 50000),
)
SINK_BATCH_SECONDS = Histogram(
    "cxpulse_sink_batch_seconds",
    "Time to write one sink batch",
    ["sink"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOK_DELIVERIES = Counter(
    "cxpulse_webhook_deliveries_total",
    "Webhook delivery attempts, by outcome (delivered, retry, dead)",
    ["outcome"],
)
API_REQUEST_SECONDS = Histogram(
    "cxpulse_api_request_seconds",
    "API request latency",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SSE_CLIENTS = Gauge("cxpulse_sse_clients", "Connected alert-stream clients")


# ---- per-item counts, fed by the sinks that store each item once --------------------------
# (``on_written`` hooks of the ClickHouse sinks, see infra/runner.py: one tally per batch,
# so a batch of N rows costs one ``inc`` per distinct label, not N)


def dead_letters_written(letters: Sequence[DeadLetter]) -> None:
    for reason, n in Tally(d.reason for d in letters).items():
        DEAD_LETTERS.labels(reason).inc(n)


def late_events_written(events: Sequence[LateEvent]) -> None:
    for flow, n in Tally(e.flow for e in events).items():
        LATE_EVENTS.labels(flow).inc(n)


def alerts_written(alerts: Sequence[Alert]) -> None:
    for (kind, severity), n in Tally((a.kind, a.severity) for a in alerts).items():
        ALERTS.labels(kind, severity).inc(n)
