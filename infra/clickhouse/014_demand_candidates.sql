-- Issue #16: every candidate model of a refit gets its backtest row, ``selected`` marks
-- the one chosen. The model joins the key, which an existing table's ORDER BY cannot
-- take (only columns added in the same ALTER can), so the table is rebuilt: a new one
-- with the old rows (each the chosen model of its refit), swapped in atomically.
CREATE TABLE IF NOT EXISTS demand_backtest_014
(
    tenant_id    LowCardinality(String) COMMENT 'Tenant',
    segment_type LowCardinality(String) COMMENT 'queue | region | service_type',
    segment      String                 COMMENT 'Queue, region or service type name',
    generated_at DateTime64(3, 'UTC')   COMMENT 'Event-time boundary of the refit the backtest belongs to',
    model        LowCardinality(String) COMMENT 'Candidate model backtested',
    baseline     LowCardinality(String) COMMENT 'Seasonal-naive baseline MASE compares with (168 h, or 24 h with under a week before the origin)',
    origins      UInt16                 COMMENT 'Rolling origins (daily) evaluated',
    horizon_h    UInt16                 COMMENT 'Hours forecast from each origin',
    points       UInt32                 COMMENT 'Forecast hours scored',
    mae          Float64                COMMENT 'Mean absolute error of the model (events/hour)',
    baseline_mae Float64                COMMENT 'Mean absolute error of the seasonal-naive baseline on the same hours',
    wape         Nullable(Float64)      COMMENT 'Sum |actual - predicted| / sum actual (NULL when no demand)',
    mase         Nullable(Float64)      COMMENT 'mae / baseline_mae: below 1 beats seasonal-naive',
    coverage_80  Nullable(Float64)      COMMENT 'Share of actuals inside the 80 % interval (calibrated without the scored origin)',
    coverage_95  Nullable(Float64)      COMMENT 'Share of actuals inside the 95 % interval',
    selected     Bool DEFAULT true      COMMENT 'The candidate chosen at this refit (lowest backtest MASE); it forecasts until the next'
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, segment_type, segment, generated_at, model)
TTL generated_at + toIntervalDay(1095)
COMMENT 'Rolling-origin backtest of every candidate model of each segment at each refit.';

INSERT INTO demand_backtest_014
SELECT tenant_id, segment_type, segment, generated_at, model, baseline, origins, horizon_h,
       points, mae, baseline_mae, wape, mase, coverage_80, coverage_95, true
FROM demand_backtest FINAL;

EXCHANGE TABLES demand_backtest AND demand_backtest_014;

DROP TABLE demand_backtest_014;
