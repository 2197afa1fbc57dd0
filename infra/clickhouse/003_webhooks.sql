-- Webhooks: per-tenant subscriptions, one row per delivery (latest state) and an
-- append-only log of every HTTP attempt. State tables are ReplacingMergeTree(updated_at):
-- every change inserts a new version of the row; read them with FINAL.

CREATE TABLE IF NOT EXISTS webhook_subscriptions
(
    subscription_id UUID                          COMMENT 'Subscription id (random, returned by POST /v1/subscriptions)',
    tenant_id       LowCardinality(String)        COMMENT 'Tenant owning the subscription (from the API key that created it)',
    url             String                        COMMENT 'http(s) endpoint every matching alert is POSTed to',
    kinds           Array(LowCardinality(String)) COMMENT 'Alert kinds delivered; empty = every kind',
    min_severity    LowCardinality(String)        COMMENT 'Lowest alert severity delivered: info | low | medium | high | critical',
    secret          String                        COMMENT 'HMAC-SHA256 signing secret of X-Cxpulse-Signature (a credential: shown once at creation, never served again; blanked in the deletion row)',
    created_at      DateTime64(3, 'UTC')          COMMENT 'When the subscription was created; it receives alerts published from then on',
    updated_at      DateTime64(6, 'UTC')          COMMENT 'Version of the row: the latest one wins (ReplacingMergeTree)',
    deleted         Bool                          COMMENT 'true once deleted (the latest version is a tombstone)'
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (tenant_id, subscription_id)
COMMENT 'Webhook subscriptions. One row (after FINAL, deleted = false) = one active subscription.';

CREATE TABLE IF NOT EXISTS webhook_deliveries
(
    delivery_id      UUID                   COMMENT 'uuid5 of (subscription_id, alert_id): re-consuming an alert never makes a second delivery; sent as X-Cxpulse-Delivery',
    subscription_id  UUID                   COMMENT 'Subscription the alert is delivered to',
    tenant_id        LowCardinality(String) COMMENT 'Tenant of the subscription and of the alert',
    alert_id         UUID                   COMMENT 'The alert delivered (see alerts)',
    body             String                 COMMENT 'Exact JSON body POSTed (the alert as served by GET /v1/alerts), identical on every attempt',
    status           LowCardinality(String) COMMENT 'pending (an attempt is due at next_attempt_at) | delivered (a 2xx answer) | dead (attempts exhausted or subscription deleted)',
    attempts         UInt16                 COMMENT 'HTTP attempts made so far',
    next_attempt_at  DateTime64(3, 'UTC')   COMMENT 'When the next attempt is due (meaningful while pending)',
    last_status_code Nullable(UInt16)       COMMENT 'HTTP status of the latest attempt; NULL without an answer (timeout, connection error) or before the first attempt',
    last_error       String                 COMMENT 'Why the latest attempt failed (empty when none failed)',
    created_at       DateTime64(3, 'UTC')   COMMENT 'When the delivery was created (alert consumed)',
    updated_at       DateTime64(6, 'UTC')   COMMENT 'Version of the row: the latest state wins (ReplacingMergeTree)'
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (tenant_id, subscription_id, delivery_id)
COMMENT 'Webhook deliveries, one row (after FINAL) per delivery with its latest state. delivery_id alone determines the other key columns.';

CREATE TABLE IF NOT EXISTS webhook_attempts
(
    delivery_id     UUID                   COMMENT 'Delivery attempted (see webhook_deliveries)',
    subscription_id UUID                   COMMENT 'Its subscription',
    tenant_id       LowCardinality(String) COMMENT 'Its tenant',
    attempt         UInt16                 COMMENT 'Attempt number, from 1',
    at              DateTime64(3, 'UTC')   COMMENT 'When the request was sent',
    status_code     Nullable(UInt16)       COMMENT 'HTTP status answered; NULL without an answer',
    error           String                 COMMENT 'Why the attempt failed (timeout, connection error, non-2xx status); empty on success',
    duration_ms     Float64                COMMENT 'Time from sending the request to its answer or failure (ms)',
    outcome         LowCardinality(String) COMMENT 'delivered | retry (another attempt scheduled) | dead (the last attempt failed)'
)
ENGINE = MergeTree
ORDER BY (tenant_id, subscription_id, delivery_id, at)
COMMENT 'Append-only log of webhook HTTP attempts. One row = one attempt.';
