-- Client risk history, SLA breaches (as alerts) and live-operations snapshots.

CREATE TABLE IF NOT EXISTS client_risk
(
    risk_id              UUID                   COMMENT 'Deterministic id of (tenant, client, version)',
    tenant_id            LowCardinality(String) COMMENT 'Tenant',
    client_id            String                 COMMENT 'Client (customer account)',
    version              UInt64                 COMMENT 'Number of risk signals folded in for this client so far',
    scored_at            DateTime64(3, 'UTC')   COMMENT 'Event time the score refers to (newest signal of the client)',
    churn_probability    Float64                COMMENT 'Modelled probability of churn, 0-1 (logistic of the summed factor contributions)',
    risk_level           LowCardinality(String) COMMENT 'low | medium | high | critical (thresholds in the risk model config)',
    factor_names         Array(String)          COMMENT 'Factors explaining the score, largest first (complaints_<severity>, escalations, low_csat, sla_breaches, reopenings, health)',
    factor_contributions Array(Float64)         COMMENT 'Logit contribution of each factor, aligned with factor_names',
    trigger_event_id     UUID                   COMMENT 'Event whose signal produced this score'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(scored_at)
ORDER BY (tenant_id, client_id, version)
COMMENT 'Client churn-risk score history: one row = one score change of one client.';

CREATE VIEW IF NOT EXISTS client_risk_latest
COMMENT 'Current churn-risk score per client (latest version)'
AS SELECT risk_id, tenant_id, client_id, version, scored_at, churn_probability, risk_level,
          factor_names, factor_contributions, trigger_event_id
   FROM client_risk FINAL
   ORDER BY tenant_id, client_id, version DESC
   LIMIT 1 BY tenant_id, client_id;

CREATE TABLE IF NOT EXISTS ops_snapshots
(
    snapshot_id       UUID                   COMMENT 'Deterministic id of (tenant, as_of)',
    tenant_id         LowCardinality(String) COMMENT 'Tenant',
    as_of             DateTime64(3, 'UTC')   COMMENT 'Event time of the snapshot',
    agents_active     UInt32                 COMMENT 'Agents whose latest status is active',
    agents_idle       UInt32                 COMMENT 'Agents whose latest status is idle',
    agents_in_call    UInt32                 COMMENT 'Agents whose latest status is in_call',
    agents_offline    UInt32                 COMMENT 'Agents whose latest status is offline',
    csat_1            UInt32                 COMMENT 'CSAT ratings of 1 in the 24 h of event time up to as_of',
    csat_2            UInt32                 COMMENT 'CSAT ratings of 2 (same window)',
    csat_3            UInt32                 COMMENT 'CSAT ratings of 3 (same window)',
    csat_4            UInt32                 COMMENT 'CSAT ratings of 4 (same window)',
    csat_5            UInt32                 COMMENT 'CSAT ratings of 5 (same window)',
    messages_text     UInt32                 COMMENT 'Text messages in the hour up to as_of',
    messages_image    UInt32                 COMMENT 'Image messages in the hour up to as_of',
    messages_file     UInt32                 COMMENT 'File messages in the hour up to as_of',
    messages_audio    UInt32                 COMMENT 'Audio messages in the hour up to as_of',
    messages_video    UInt32                 COMMENT 'Video messages in the hour up to as_of'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(as_of)
ORDER BY (tenant_id, as_of)
COMMENT 'Periodic live-operations snapshots per tenant (one row = one tenant at one instant).';

CREATE TABLE IF NOT EXISTS ops_queue_snapshots
(
    tenant_id     LowCardinality(String) COMMENT 'Tenant',
    as_of         DateTime64(3, 'UTC')   COMMENT 'Event time of the snapshot (joins ops_snapshots)',
    queue         LowCardinality(String) COMMENT 'Queue',
    depth         UInt32                 COMMENT 'Sessions queued and not yet started or ended',
    oldest_wait_s Float64                COMMENT 'Wait so far of the longest-waiting session (s)',
    avg_wait_s    Float64                COMMENT 'Mean wait so far of the waiting sessions (s)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(as_of)
ORDER BY (tenant_id, as_of, queue)
COMMENT 'Queue state per tenant and queue at each live-operations snapshot (one row = one queue at one instant).';
