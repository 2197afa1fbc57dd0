-- Demand forecasting (hourly actuals, forecast snapshots, backtests) and KB suggestions.

CREATE TABLE IF NOT EXISTS demand_hourly
(
    tenant_id    LowCardinality(String) COMMENT 'Tenant',
    segment_type LowCardinality(String) COMMENT 'queue | region | service_type',
    segment      String                 COMMENT 'Queue, region or service type name',
    hour_start   DateTime64(3, 'UTC')   COMMENT 'UTC hour (event time) the count covers',
    events       UInt32                 COMMENT 'Demand events in the hour: ticket.created (queue, region), service.requested (region, service_type), session.queued (queue). Also the row version: a late event re-emits the hour with a higher count'
)
ENGINE = ReplacingMergeTree(events)
PARTITION BY toYYYYMM(hour_start)
ORDER BY (tenant_id, segment_type, segment, hour_start)
COMMENT 'Closed hours of demand per segment (zeros included): the actuals forecasts are audited against.';

CREATE TABLE IF NOT EXISTS demand_forecast_snapshots
(
    tenant_id    LowCardinality(String) COMMENT 'Tenant',
    segment_type LowCardinality(String) COMMENT 'queue | region | service_type',
    segment      String                 COMMENT 'Queue, region or service type name',
    generated_at DateTime64(3, 'UTC')   COMMENT 'Event-time boundary the history was complete up to (end of the last closed hour)',
    first_target DateTime64(3, 'UTC')   COMMENT 'Start of the first forecast hour: the hour after the one in progress',
    model        LowCardinality(String) COMMENT 'holt_winters_168h_sqrt, or seasonal_mean_24h with under a week of history',
    predicted    Array(Float32)         COMMENT 'Expected demand events per hour, one element per hour from first_target',
    lower_80     Array(Float32)         COMMENT 'Lower bounds of the 80 % prediction intervals',
    upper_80     Array(Float32)         COMMENT 'Upper bounds of the 80 % prediction intervals',
    lower_95     Array(Float32)         COMMENT 'Lower bounds of the 95 % prediction intervals',
    upper_95     Array(Float32)         COMMENT 'Upper bounds of the 95 % prediction intervals'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(generated_at)
ORDER BY (tenant_id, segment_type, segment, generated_at)
COMMENT 'Every forecast snapshot (one row of Float32 arrays per segment and hour: ~6.7 KB for 336 hours); query demand_forecast for one row per target hour. No TTL: a replay of old history would lose its snapshots on insert; add one with ALTER TABLE ... MODIFY TTL if retention is wanted.';

CREATE VIEW IF NOT EXISTS demand_forecast
COMMENT 'Forecast snapshots, one row per target hour: audit with demand_hourly on (tenant_id, segment_type, segment, target_start = hour_start)'
AS SELECT tenant_id, segment_type, segment, generated_at, target_start, horizon_h,
          p AS predicted, l80 AS lower_80, u80 AS upper_80, l95 AS lower_95, u95 AS upper_95,
          model
   FROM
   (
       SELECT tenant_id, segment_type, segment, generated_at, model, p, l80, u80, l95, u95,
              first_target + toIntervalHour(i - 1) AS target_start,
              toUInt16(dateDiff('hour', generated_at, first_target) + i) AS horizon_h
       FROM demand_forecast_snapshots FINAL
       ARRAY JOIN predicted AS p, lower_80 AS l80, upper_80 AS u80, lower_95 AS l95,
                  upper_95 AS u95, arrayEnumerate(predicted) AS i
   );

CREATE TABLE IF NOT EXISTS demand_backtest
(
    tenant_id    LowCardinality(String) COMMENT 'Tenant',
    segment_type LowCardinality(String) COMMENT 'queue | region | service_type',
    segment      String                 COMMENT 'Queue, region or service type name',
    generated_at DateTime64(3, 'UTC')   COMMENT 'Event-time boundary of the refit the backtest belongs to',
    model        LowCardinality(String) COMMENT 'Model backtested',
    baseline     LowCardinality(String) COMMENT 'Seasonal-naive baseline MASE compares with (168 h, or 24 h with under a week before the origin)',
    origins      UInt16                 COMMENT 'Rolling origins (daily) evaluated',
    horizon_h    UInt16                 COMMENT 'Hours forecast from each origin',
    points       UInt32                 COMMENT 'Forecast hours scored',
    mae          Float64                COMMENT 'Mean absolute error of the model (events/hour)',
    baseline_mae Float64                COMMENT 'Mean absolute error of the seasonal-naive baseline on the same hours',
    wape         Nullable(Float64)      COMMENT 'Sum |actual - predicted| / sum actual (NULL when no demand)',
    mase         Nullable(Float64)      COMMENT 'mae / baseline_mae: below 1 beats seasonal-naive',
    coverage_80  Nullable(Float64)      COMMENT 'Share of actuals inside the 80 % interval (calibrated without the scored origin)',
    coverage_95  Nullable(Float64)      COMMENT 'Share of actuals inside the 95 % interval'
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, segment_type, segment, generated_at)
COMMENT 'Rolling-origin backtest of each segment model at each refit.';

CREATE TABLE IF NOT EXISTS kb_suggestions
(
    suggestion_id UUID                   COMMENT 'Stable id (tenant + the cluster''s first ticket)',
    version       UInt64                 COMMENT 'Grows with every change; the latest row is the current state',
    tenant_id     LowCardinality(String) COMMENT 'Tenant',
    status        LowCardinality(String) COMMENT 'open | covered (an article now covers it)',
    title         String                 COMMENT 'Representative subject: the member closest to the cluster centre',
    category      LowCardinality(String) COMMENT 'Most common category of the member tickets',
    ticket_ids    Array(String)          COMMENT 'Member tickets in arrival order (capped; size is the full count)',
    size          UInt32                 COMMENT 'Resolved tickets in the cluster',
    confidence    Float64                COMMENT 'In (0, 1]: how sure the cluster is one recurring problem',
    covered_by    Nullable(String)       COMMENT 'Article that covered it',
    first_seen    DateTime64(3, 'UTC')   COMMENT 'Event time of the first member',
    updated_at    DateTime64(3, 'UTC')   COMMENT 'Event time of the latest change'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, suggestion_id)
COMMENT 'Knowledge-base article suggestions from clusters of similar resolved tickets.';

CREATE TABLE IF NOT EXISTS kb_feedback
(
    tenant_id     LowCardinality(String) COMMENT 'Tenant',
    suggestion_id UUID                   COMMENT 'Suggestion judged',
    verdict       LowCardinality(String) COMMENT 'accepted | dismissed',
    decided_at    DateTime64(3, 'UTC')   COMMENT 'Wall time of the decision; the latest one counts'
)
ENGINE = ReplacingMergeTree(decided_at)
ORDER BY (tenant_id, suggestion_id)
COMMENT 'Reviewer feedback on KB suggestions (latest verdict per suggestion): precision = accepted / judged.';
