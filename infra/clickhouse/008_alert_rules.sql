-- Threshold rules defined through the API (issue #12: POST/GET/DELETE /v1/rules). Rules
-- of the rules file (CXPULSE_ALERT_RULES_FILE) are not stored here. One row per version
-- of a rule: a deletion is a row with deleted = 1, and the row of the highest version
-- wins (ReplacingMergeTree(version); reads use FINAL). The flows never read this table:
-- every change is also published to the compacted <prefix>rules topic, which the
-- live-ops flow reads.

CREATE TABLE IF NOT EXISTS alert_rules
(
    tenant_id  LowCardinality(String) COMMENT 'Tenant',
    rule_id    String                 COMMENT 'The rule id (given, or derived from tenant and content)',
    rule       String                 COMMENT 'The rule as JSON (metric, scope, op, threshold, for_s, severity); empty when deleted',
    deleted    UInt8                  COMMENT '1: the rule was deleted',
    version    UInt64                 COMMENT 'Wall time of the change in ms (the latest wins)',
    updated_at DateTime64(3, 'UTC')   COMMENT 'When the change was made (wall time)'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, rule_id)
COMMENT 'Threshold rules of the API, per tenant: the latest version of each rule; deleted ones have deleted = 1.';
