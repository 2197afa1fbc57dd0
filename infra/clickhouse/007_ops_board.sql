-- Live-operations board (issue #12): open complaints by severity and the messages peak
-- hour on every snapshot, active sessions per queue, and one row per agent with its
-- latest board state. Snapshots stored before this migration read as zeros / no peak.

ALTER TABLE ops_snapshots
    ADD COLUMN IF NOT EXISTS open_complaints_low UInt32 DEFAULT 0
        COMMENT 'Open complaints (created or escalated, not resolved) whose latest severity is low',
    ADD COLUMN IF NOT EXISTS open_complaints_medium UInt32 DEFAULT 0
        COMMENT 'Open complaints whose latest severity is medium',
    ADD COLUMN IF NOT EXISTS open_complaints_high UInt32 DEFAULT 0
        COMMENT 'Open complaints whose latest severity is high',
    ADD COLUMN IF NOT EXISTS open_complaints_critical UInt32 DEFAULT 0
        COMMENT 'Open complaints whose latest severity is critical',
    ADD COLUMN IF NOT EXISTS messages_peak_hour Nullable(DateTime64(3, 'UTC'))
        COMMENT 'Start of the busiest clock hour for messages in the UTC day of as_of (ties: the earlier); NULL before the day''s first message',
    ADD COLUMN IF NOT EXISTS messages_peak_hour_count UInt32 DEFAULT 0
        COMMENT 'Messages in that hour (0 when there is none)';

ALTER TABLE ops_queue_snapshots
    ADD COLUMN IF NOT EXISTS active_sessions UInt32 DEFAULT 0
        COMMENT 'Sessions of the queue started and not yet ended (lost after 24 h without an end)';

CREATE TABLE IF NOT EXISTS ops_agent_board
(
    tenant_id       LowCardinality(String)          COMMENT 'Tenant',
    as_of           DateTime64(3, 'UTC')            COMMENT 'Event time of the snapshot that wrote this state (the version: the latest wins)',
    agent_id        String                          COMMENT 'Agent',
    status          Nullable(String)                COMMENT 'Latest status by event time: active | idle | in_call | offline; NULL before its first status change',
    since           Nullable(DateTime64(3, 'UTC'))  COMMENT 'Event time the agent entered its current status',
    last_event_at   DateTime64(3, 'UTC')            COMMENT 'Latest event time of any event naming the agent (status, session, ticket, complaint resolution, its messages)',
    active_sessions UInt32                          COMMENT 'Its sessions started and not yet ended',
    sessions_today  UInt32                          COMMENT 'Sessions it started in the UTC day of as_of (event time)',
    open_tickets    UInt32                          COMMENT 'Tickets whose latest assignment is to it and not resolved since'
)
ENGINE = ReplacingMergeTree(as_of)
ORDER BY (tenant_id, agent_id)
COMMENT 'Per-agent live board: one row per agent, its state at the latest snapshot that changed it (read with FINAL).';
