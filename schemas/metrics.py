"""Prometheus metrics of cxpulse (``cxpulse_`` prefix), in the process-wide registry.

Metrics are the one deliberate piece of process-global state: Prometheus scrapes one
registry per process, and `cxpulse up` serves flows and API from the same process.
Names here are the contract with dashboards; add, don't rename.
It sits at the bottom (with the settings) because the Kafka source, the sinks and the
API all count into it.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

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
AUDIT_UNRECORDED = Counter(
    "cxpulse_audit_unrecorded_total",
    "Audit rows the broker never took (each logged at ERROR in full)",
)
STORE_LAG = Gauge(
    "cxpulse_store_lag_messages",
    "Result-topic messages not yet stored in ClickHouse by the storage writer, by topic",
    ["topic"],
)
STORE_COMMITTED_AT = Gauge(
    "cxpulse_store_last_commit_timestamp_seconds",
    "Unix time the storage writer last committed stored offsets",
)


# ---- per-item counts, fed by the sinks that store each item once --------------------------
# (``on_written`` hooks of the storage writer, see sinks/store.py: one tally per batch,
# so a batch of N rows costs one ``inc`` per distinct label, not N)


def dead_letters_written(columns: Mapping[str, Sequence[Any]]) -> None:
    for reason, n in Tally(columns["reason"]).items():
        DEAD_LETTERS.labels(reason).inc(n)


def late_events_written(columns: Mapping[str, Sequence[Any]]) -> None:
    for flow, n in Tally(columns["flow"]).items():
        LATE_EVENTS.labels(flow).inc(n)


def alerts_written(columns: Mapping[str, Sequence[Any]]) -> None:
    for (kind, severity), n in Tally(
        zip(columns["kind"], columns["severity"], strict=True)
    ).items():
        ALERTS.labels(kind, severity).inc(n)
