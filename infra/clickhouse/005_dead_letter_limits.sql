-- Dead letters of any size, from any step. A dead letter keeps at most
-- CXPULSE_DLQ_MAX_RAW_BYTES (default 65536) of the original bytes, with the original's
-- size and sha256; letters now also come from the flows (processing_error) and the
-- sinks (sink_error), so `flow` joins the sorting key: two flows that reject the same
-- input offset keep one letter each instead of replacing each other. ClickHouse allows
-- a column in MODIFY ORDER BY only when the same ALTER adds it (without a default
-- expression; LowCardinality(String) defaults to ''), hence one statement. Rows stored
-- before this migration kept their whole raw bytes, so their size and hash are computed
-- from them.

ALTER TABLE dead_letters
    ADD COLUMN IF NOT EXISTS flow LowCardinality(String)
        COMMENT 'Flow or sink that rejected it: empty for ingest (decode), e.g. agent_performance for processing_error, sink:<table> or sink:<sink name> for sink_error' AFTER reason,
    ADD COLUMN IF NOT EXISTS raw_size UInt64 DEFAULT length(raw)
        COMMENT 'Size in bytes of the whole original (raw holds its first DLQ_MAX_RAW_BYTES)',
    ADD COLUMN IF NOT EXISTS raw_sha256 String DEFAULT lower(hex(SHA256(raw)))
        COMMENT 'Hex sha256 of the whole original, to match a truncated raw to its message',
    MODIFY ORDER BY (topic, partition, offset, flow),
    COMMENT COLUMN letter_id 'Deterministic id from topic/partition/offset (and flow when not empty)',
    COMMENT COLUMN topic 'Input topic of the rejected message; for sink_error the table or topic that refused the row',
    COMMENT COLUMN partition 'Input partition; -1 for items with no input offset (sink_error)',
    COMMENT COLUMN offset 'Input offset; for sink_error a stable number derived from the row key',
    COMMENT COLUMN reason 'invalid_utf8 | invalid_json | unknown_event_type | validation_error | processing_error | sink_error',
    COMMENT COLUMN error 'Human-readable explanation: field path and problem, or exception type and message',
    COMMENT COLUMN raw 'The first DLQ_MAX_RAW_BYTES (default 65536) bytes received, or of the refused row as JSON; may not be valid UTF-8',
    COMMENT COLUMN key 'Kafka key of the message, if any (its first 1024 bytes)',
    MODIFY COMMENT 'Rejected messages and items with the reason and their (capped) raw bytes. One row = one message or item rejected by one step (flow is empty for ingest).';
