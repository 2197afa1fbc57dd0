-- The alert lifecycle (issue #12): open -> acknowledged -> resolved. Every action on an
-- alert is one row: written by the API (actor 'api': POST /v1/alerts/{id}/ack and
-- /resolve) and, later, by the flows through the storage writer (actor 'system': a
-- threshold episode that ends resolves its alert). An alert's state is the furthest
-- state its actions reached (resolve > acknowledge > none = open), so rows may arrive in
-- any order. action_id is the UUIDv5 of (tenant, alert, action, actor): a repeated or
-- concurrent request, or a replay, rewrites the same row (the last write wins).

CREATE TABLE IF NOT EXISTS alert_actions
(
    action_id UUID                   COMMENT 'Deterministic id of (tenant, alert, action, actor): one row per action and actor',
    tenant_id LowCardinality(String) COMMENT 'Tenant',
    alert_id  UUID                   COMMENT 'The alert acted on (alerts.alert_id)',
    action    LowCardinality(String) COMMENT 'acknowledge | resolve',
    note      String                 COMMENT 'Free-text remark of the actor (at most 1000 characters; empty if none)',
    actor     LowCardinality(String) COMMENT 'api (a person through the HTTP API) | system (a flow)',
    at        DateTime64(3, 'UTC')   COMMENT 'When it was done: wall time for api, event time for system'
)
ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, alert_id, action_id)
COMMENT 'Lifecycle actions on alerts (acknowledge, resolve). One row = one action of one actor on one alert; the state of an alert is resolved if any resolve row exists, else acknowledged if any acknowledge row exists, else open.';
