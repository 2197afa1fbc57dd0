-- Retention (issue #13): every table keeps its rows for a fixed number of days, enforced
-- by a TTL; the defaults and the reasons live in schemas/retention.py (README "Privacy:
-- Retention"). `cxpulse migrate` then sets the days configured in CXPULSE_RETENTION_DAYS
-- (infra/retention.py), only where they differ from what a table holds.
--
-- Age is measured in event time where a table has it: a row lives N days after what it
-- describes happened, however often a replay rewrites it, and a replay of history older
-- than that cannot bring it back (the rows are dropped at the next merge). Dead letters,
-- webhook traffic and the API's own rows have no event time and count from when cxpulse
-- wrote them. Configuration tables (alert_rules, webhook_subscriptions) expire only
-- their deletion records: a live rule or subscription stays until it is deleted.
--
-- ClickHouse removes expired rows in background merges (within hours; `OPTIMIZE TABLE
-- ... FINAL` forces it), and ALTER ... MODIFY TTL materializes the TTL on rows already
-- stored: on a large database the first migrate rewrites the parts that hold rows past
-- their retention, and deletes those rows.

ALTER TABLE events MODIFY TTL occurred_at + toIntervalDay(400);
ALTER TABLE dead_letters MODIFY TTL received_at + toIntervalDay(30);
ALTER TABLE late_events MODIFY TTL occurred_at + toIntervalDay(90);
ALTER TABLE alerts MODIFY TTL event_time + toIntervalDay(400);
ALTER TABLE alert_actions MODIFY TTL at + toIntervalDay(400);
ALTER TABLE agent_performance MODIFY TTL window_start + toIntervalDay(730);
ALTER TABLE client_risk MODIFY TTL scored_at + toIntervalDay(400);
ALTER TABLE ops_snapshots MODIFY TTL as_of + toIntervalDay(730);
ALTER TABLE ops_queue_snapshots MODIFY TTL as_of + toIntervalDay(730);
ALTER TABLE ops_agent_board MODIFY TTL as_of + toIntervalDay(90);
ALTER TABLE demand_hourly MODIFY TTL hour_start + toIntervalDay(1095);
ALTER TABLE demand_forecast_snapshots MODIFY TTL generated_at + toIntervalDay(400);
ALTER TABLE demand_backtest MODIFY TTL generated_at + toIntervalDay(1095);
ALTER TABLE kb_suggestions MODIFY TTL updated_at + toIntervalDay(400);
ALTER TABLE kb_feedback MODIFY TTL decided_at + toIntervalDay(400);
ALTER TABLE alert_rules MODIFY TTL updated_at + toIntervalDay(90) WHERE deleted = 1;
ALTER TABLE webhook_subscriptions MODIFY TTL updated_at + toIntervalDay(90) WHERE deleted;
ALTER TABLE webhook_deliveries MODIFY TTL created_at + toIntervalDay(90);
ALTER TABLE webhook_attempts MODIFY TTL at + toIntervalDay(90);

ALTER TABLE demand_forecast_snapshots MODIFY COMMENT 'Every forecast snapshot (one row of Float32 arrays per segment and hour: ~6.7 KB for 336 hours); query demand_forecast for one row per target hour. Kept 400 days after generated_at by default (CXPULSE_RETENTION_DAYS).';
