-- cxpulse foundation tables. Every table is a ReplacingMergeTree on a deterministic key:
-- a replay after a crash rewrites rows instead of duplicating them. Query with FINAL
-- (or the *_final views) to see exactly one row per key before background merges run.

CREATE TABLE IF NOT EXISTS events
(
    event_id        UUID                     COMMENT 'Producer-assigned idempotency key; one row per event_id',
    event_type      LowCardinality(String)   COMMENT 'domain.action, e.g. ticket.created',
    schema_version  UInt16                   COMMENT 'Envelope schema version the producer used',
    tenant_id       LowCardinality(String)   COMMENT 'Tenant (customer organisation) the event belongs to',
    occurred_at     DateTime64(3, 'UTC')     COMMENT 'Event time: when it happened at the source (UTC)',
    ingested_at     DateTime64(3, 'UTC')     COMMENT 'Processing time: when cxpulse accepted it (UTC)',
    source          String                   COMMENT 'Producing system',
    correlation_id  Nullable(String)         COMMENT 'Optional id tying related events together',
    payload         String                   COMMENT 'Validated payload as JSON (use JSONExtract*)',
    kafka_partition Int32                    COMMENT 'Partition of the input topic the event came from',
    kafka_offset    Int64                    COMMENT 'Offset in that partition (lineage)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, event_type, occurred_at, event_id)
COMMENT 'Every valid input event, once. One row = one domain event.';

CREATE TABLE IF NOT EXISTS dead_letters
(
    letter_id   UUID                   COMMENT 'Deterministic id from topic/partition/offset',
    received_at DateTime64(3, 'UTC')   COMMENT 'When cxpulse rejected the message',
    topic       LowCardinality(String) COMMENT 'Input topic of the rejected message',
    partition   Int32                  COMMENT 'Input partition',
    offset      Int64                  COMMENT 'Input offset',
    reason      LowCardinality(String) COMMENT 'invalid_utf8 | invalid_json | unknown_event_type | validation_error',
    error       String                 COMMENT 'Human-readable explanation: field path and problem',
    raw         String                 COMMENT 'The exact bytes received (may not be valid UTF-8)',
    key         Nullable(String)       COMMENT 'Kafka key of the message, if any'
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)
COMMENT 'Rejected input messages with the reason and the raw bytes. One row = one rejected message.';

CREATE TABLE IF NOT EXISTS agent_performance
(
    row_id               UUID                   COMMENT 'Deterministic id of (tenant, agent, window, window_start)',
    version              UInt64                 COMMENT 'Grows as events fold in; the highest version wins',
    is_final             Bool                   COMMENT 'true once the watermark passed window_end (or input ended)',
    tenant_id            LowCardinality(String) COMMENT 'Tenant',
    agent_id             String                 COMMENT 'Agent',
    window               LowCardinality(String) COMMENT 'Window size: 5m, 1h or 1d (UTC-aligned tumbling)',
    window_start         DateTime64(3, 'UTC')   COMMENT 'Inclusive window start (event time)',
    window_end           DateTime64(3, 'UTC')   COMMENT 'Exclusive window end (event time)',
    tickets_assigned     UInt32                 COMMENT 'ticket.assigned events to this agent in the window',
    tickets_resolved     UInt32                 COMMENT 'ticket.resolved events by this agent in the window',
    handle_time_sum_s    Float64                COMMENT 'Sum of resolved - last assigned (seconds), at the resolution',
    handle_time_count    UInt32                 COMMENT 'Resolutions with a known assignment',
    first_response_sum_s Float64                COMMENT 'Sum of first response - ticket created (seconds), at the response',
    first_response_count UInt32                 COMMENT 'First responses with a known creation',
    csat_sum             UInt32                 COMMENT 'Sum of CSAT ratings (1-5) received in the window',
    csat_count           UInt32                 COMMENT 'CSAT surveys received in the window',
    low_csat_count       UInt32                 COMMENT 'CSAT ratings <= 2',
    avg_handle_time_s    Nullable(Float64) ALIAS if(handle_time_count = 0, NULL, handle_time_sum_s / handle_time_count) COMMENT 'Mean handle time (s)',
    avg_first_response_s Nullable(Float64) ALIAS if(first_response_count = 0, NULL, first_response_sum_s / first_response_count) COMMENT 'Mean first-response time (s)',
    csat_avg             Nullable(Float64) ALIAS if(csat_count = 0, NULL, csat_sum / csat_count) COMMENT 'Mean CSAT rating'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant_id, window, agent_id, window_start)
COMMENT 'Per agent and event-time window metrics. One row (after FINAL) = one agent in one window. Sum/count columns roll up correctly; averages are derived.';

CREATE TABLE IF NOT EXISTS alerts
(
    alert_id     UUID                   COMMENT 'Deterministic id derived from the cause (replays rewrite)',
    tenant_id    LowCardinality(String) COMMENT 'Tenant',
    kind         LowCardinality(String) COMMENT 'coaching | client_risk | sla_breach | demand_hotspot | anomaly | kb_suggestion',
    severity     LowCardinality(String) COMMENT 'info | low | medium | high | critical',
    subject_type LowCardinality(String) COMMENT 'What the alert is about: agent, client, ticket, segment...',
    subject_id   String                 COMMENT 'Id of that subject',
    title        String                 COMMENT 'One-line human summary',
    details      String                 COMMENT 'JSON object with the evidence',
    event_time   DateTime64(3, 'UTC')   COMMENT 'Event time of the triggering event',
    fired_at     DateTime64(3, 'UTC')   COMMENT 'Processing time the alert was raised'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (tenant_id, event_time, alert_id)
COMMENT 'Alerts raised by the flows. One row = one alert.';

CREATE TABLE IF NOT EXISTS late_events
(
    late_id     UUID                   COMMENT 'Deterministic id of (flow, event, fact)',
    flow        LowCardinality(String) COMMENT 'Flow that could no longer count the event',
    event_id    UUID                   COMMENT 'The late event (see events)',
    tenant_id   LowCardinality(String) COMMENT 'Tenant',
    event_type  LowCardinality(String) COMMENT 'Type of the late event',
    occurred_at DateTime64(3, 'UTC')   COMMENT 'Its event time',
    watermark   DateTime64(3, 'UTC')   COMMENT 'Watermark when it arrived (event time minus allowed lateness)',
    recorded_at DateTime64(3, 'UTC')   COMMENT 'Processing time it was recorded'
)
ENGINE = ReplacingMergeTree
ORDER BY (flow, tenant_id, late_id)
COMMENT 'Events that arrived after their windows had closed: stored in events, not counted in windows.';

CREATE VIEW IF NOT EXISTS agent_performance_final
COMMENT 'agent_performance with exactly one row per agent and window (latest version)'
AS SELECT row_id, version, is_final, tenant_id, agent_id, window, window_start, window_end,
          tickets_assigned, tickets_resolved, handle_time_sum_s, handle_time_count,
          first_response_sum_s, first_response_count, csat_sum, csat_count, low_csat_count,
          avg_handle_time_s, avg_first_response_s, csat_avg
   FROM agent_performance FINAL;

CREATE VIEW IF NOT EXISTS agent_csat_30d
COMMENT 'Rolling 30-day CSAT per agent, from the daily windows, as of today (UTC)'
AS SELECT tenant_id, agent_id,
          sum(csat_sum) / nullIf(sum(csat_count), 0) AS csat_avg_30d,
          sum(csat_count) AS csat_count_30d,
          sum(low_csat_count) AS low_csat_count_30d
   FROM agent_performance FINAL
   WHERE window = '1d' AND window_start >= toStartOfDay(now('UTC')) - INTERVAL 29 DAY
   GROUP BY tenant_id, agent_id;
