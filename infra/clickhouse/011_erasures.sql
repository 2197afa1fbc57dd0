-- Erasures of data subjects (issue #13, README "Privacy"): one row per erasure, the
-- highest version kept (1 requested, 2 applied by the flows, 3 completed by the storage
-- writer). Read with FINAL. The receipt keeps the client id as the proof of erasure.

CREATE TABLE IF NOT EXISTS erasures
(
    erasure_id            UUID                   COMMENT 'Id of the erasure (the receipt)',
    tenant_id             LowCardinality(String) COMMENT 'Tenant whose client was erased',
    client_id             String                 COMMENT 'The erased data subject',
    requested_at          DateTime64(3, 'UTC')   COMMENT 'When it was requested (wall time)',
    status                LowCardinality(String) COMMENT 'requested | applied | completed',
    rows_deleted_by_table String                 COMMENT 'JSON object: table -> rows deleted (when completed)',
    completed_at          Nullable(DateTime64(3, 'UTC')) COMMENT 'When every table was cleared',
    version               UInt8                  COMMENT '1 requested, 2 applied, 3 completed'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, erasure_id)
COMMENT 'Erasures of data subjects and their progress. One row = one erasure (FINAL).';
