"""How long each ClickHouse table keeps its rows: the default days, the column the age is
measured on and why (README "Privacy: Retention" is the same table in prose).

Ages are measured in event time wherever a table has one: a row lives ``days`` after what
it describes happened, whenever it was (re)written, so a replay re-creates rows still
within retention and cannot resurrect older ones (they are dropped at the next merge).
Tables without event time (dead letters, webhook traffic, API-written rows) measure from
when cxpulse wrote them. ``CXPULSE_RETENTION_DAYS`` overrides the days per table; the
migration ``009_retention.sql`` installs these defaults and ``cxpulse migrate`` applies
the configured values.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RETENTION_DAYS = 36_500  # 100 years: any event time + this stays inside DateTime64(3)


@dataclass(frozen=True)
class Retention:
    """``only_if``: a condition on the row; rows not matching it are kept regardless of
    age (configuration tables keep live rows and expire their deletion records)."""

    days: int
    column: str
    why: str
    only_if: str = ""


RETENTION: dict[str, Retention] = {
    "events": Retention(
        400,
        "occurred_at",
        "raw input with free text; equals MAX_PAST_S, so every accepted event is within "
        "retention when it arrives",
    ),
    "dead_letters": Retention(
        30,
        "received_at",
        "raw bytes as received, personal data unredacted; kept only to fix and replay",
    ),
    "late_events": Retention(90, "occurred_at", "lateness diagnostics"),
    "alerts": Retention(400, "event_time", "as long as the events that raised them"),
    "alert_actions": Retention(400, "at", "the lifecycle of alerts, as long as the alerts"),
    "agent_performance": Retention(
        730,
        "window_start",
        "aggregate without client data or text: year-over-year comparison of agents",
    ),
    "client_risk": Retention(
        400, "scored_at", "profiling of a client, derived from events: no longer than they"
    ),
    "ops_snapshots": Retention(
        730, "as_of", "tenant-level counts, no personal data: capacity planning"
    ),
    "ops_queue_snapshots": Retention(
        730, "as_of", "queue-level counts, no personal data: capacity planning"
    ),
    "ops_agent_board": Retention(
        90, "as_of", "one row per agent: agents not seen for 90 days leave the board"
    ),
    "demand_hourly": Retention(
        1095,
        "hour_start",
        "anonymous hourly counts per segment: yearly seasonality and long-range planning",
    ),
    "demand_forecast_snapshots": Retention(
        400, "generated_at", "large (~6.7 KB per segment and hour): a year of forecast audit"
    ),
    "demand_backtest": Retention(
        1095, "generated_at", "small accuracy figures: model quality over the years"
    ),
    "kb_suggestions": Retention(
        400, "updated_at", "titles are ticket subjects (free text): as long as the events"
    ),
    "kb_feedback": Retention(400, "decided_at", "verdicts on suggestions, as long as they"),
    "alert_rules": Retention(
        90, "updated_at", "deleted rules only; live rules stay until deleted", "deleted = 1"
    ),
    "webhook_subscriptions": Retention(
        90, "updated_at", "deleted subscriptions only; live ones stay until deleted", "deleted"
    ),
    "webhook_deliveries": Retention(
        90, "created_at", "delivery bodies copy alerts: long enough to investigate a receiver"
    ),
    "webhook_attempts": Retention(90, "at", "HTTP attempt log, as long as its deliveries"),
    "routing_recommendations": Retention(
        400, "made_at", "ticket, complaint and agent ids with scores: as long as the events"
    ),
    "routing_decisions": Retention(
        400, "assigned_at", "assignments and their outcomes: as long as the events they judge"
    ),
    "audit_log": Retention(
        730, "at", "accountability for changes and erasures: two years, then gone"
    ),
    "erasures": Retention(
        1095,
        "requested_at",
        "the receipt (with the client id) proves an erasure: kept past the data it erased",
    ),
}


def check_retention_days(overrides: dict[str, int]) -> dict[str, int]:
    """``overrides`` if every table is known and every value in 1..MAX_RETENTION_DAYS;
    raises ``ValueError`` naming the offenders otherwise."""
    unknown = sorted(set(overrides) - set(RETENTION))
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; known: {sorted(RETENTION)}")
    bad = {t: d for t, d in overrides.items() if not 1 <= d <= MAX_RETENTION_DAYS}
    if bad:
        raise ValueError(f"days must be 1..{MAX_RETENTION_DAYS}: {bad}")
    return overrides


def effective_retention(overrides: dict[str, int]) -> dict[str, int]:
    """Days per table: the defaults with ``overrides`` applied."""
    return {t: overrides.get(t, p.days) for t, p in RETENTION.items()}
