-- The access audit (issue #13): one row per state-changing API call (POST, PUT, PATCH,
-- DELETE; refused ones included: 401, 403, 413, 429, other 4xx and 5xx) and per
-- state-changing CLI command (cxpulse erase). Rows come through the result topic
-- <prefix>results.audit_log and the storage writer (the API never inserts on its request
-- path); audit_id is random per call, so a replay of the topic rewrites the same rows.
-- Never holds an API key (key_id is sha256(key)[:12]) nor a request body.

CREATE TABLE IF NOT EXISTS audit_log
(
    audit_id    UUID                   COMMENT 'Random id of the audited call',
    tenant_id   LowCardinality(String) COMMENT 'The caller''s tenant (empty: not authenticated)',
    key_id      String                 COMMENT 'First 12 hex digits of sha256(API key) (empty: no valid key)',
    method      LowCardinality(String) COMMENT 'HTTP method, or CLI for a command',
    route       String                 COMMENT 'Route template, e.g. /v1/alerts/{alert_id}/ack (<unmatched>: no route), or the CLI command',
    path_params String                 COMMENT 'The route''s path parameters (or the command''s arguments) as a JSON object',
    status      UInt16                 COMMENT 'HTTP status of the answer (CLI: 200 done, 500 failed)',
    outcome     LowCardinality(String) COMMENT 'success | unauthenticated | forbidden | throttled | too_large | rejected | error',
    client      String                 COMMENT 'Client address as the API saw it (local: the CLI)',
    request_id  String                 COMMENT 'X-Request-ID of the call (the client''s, or generated)',
    at          DateTime64(3, 'UTC')   COMMENT 'When the call was answered (wall time)'
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, at, audit_id)
COMMENT 'Access audit: who changed what through the API or the CLI, when, from where and with which outcome. One row = one call.';
