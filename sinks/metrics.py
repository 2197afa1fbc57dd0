"""Prometheus metrics of cxpulse (``cxpulse_`` prefix), in the process-wide registry.

Metrics are the one deliberate piece of process-global state: Prometheus scrapes one
registry per process, and `cxpulse up` serves flows and API from the same process.
Names here are the contract with dashboards; add, don't rename.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("cxpulse_events_in_total", "Messages read from the events topic", ["partition"])
ROWS_WRITTEN = Counter(
    "cxpulse_rows_written_total", "Rows written to ClickHouse, by table", ["table"]
)
DEAD_LETTERS = Counter(
    "cxpulse_dead_letters_total", "Rejected input messages, by reason", ["reason"]
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
