-- Routing recommendation (issue #15): the top candidates for every new ticket and
-- complaint, and the decision log (was the first assignment the top pick, in the top N,
-- outside it) with the ticket's outcomes. Written by the routing flow through the result
-- topics and the storage writer; deterministic ids, so a replay rewrites the same rows.
-- No client ids and no free text: ticket, complaint, agent ids, categories and figures.
-- Retention (400 days of event time) comes from schemas/retention.py on migrate.

CREATE TABLE IF NOT EXISTS routing_recommendations
(
    recommendation_id   UUID                   COMMENT 'Deterministic id of (tenant, subject_type, subject_id)',
    tenant_id           LowCardinality(String) COMMENT 'Tenant',
    ticket_id           String                 COMMENT 'The ticket routed (a complaint''s linked ticket; empty for a complaint without one)',
    subject_type        LowCardinality(String) COMMENT 'ticket | complaint',
    subject_id          String                 COMMENT 'The ticket or complaint id',
    made_at             DateTime64(3, 'UTC')   COMMENT 'Event time of the ticket.created / complaint.created it answers',
    category            LowCardinality(String) COMMENT 'Category routed for (experience is counted per category)',
    queue               LowCardinality(String) COMMENT 'The ticket''s queue (team match); empty when unknown',
    severity            LowCardinality(String) COMMENT 'The complaint''s severity (high/critical prefer CSAT and experience); empty for a ticket',
    eligible_agents     UInt32                 COMMENT 'Agents eligible at made_at (latest status active or idle; in_call only if the model allows)',
    reason              LowCardinality(String) COMMENT 'Empty, or no_eligible_agent (then no candidates)',
    factor_names        Array(LowCardinality(String)) COMMENT 'The factors of candidate_factors, in order (workload, csat, experience, team_match, fairness, in_call)',
    candidate_agent_ids Array(String)          COMMENT 'The top N agents, best first (ARRAY JOIN with candidate_scores, candidate_factors)',
    candidate_scores    Array(Float64)         COMMENT 'Each candidate''s score (sum of its factors'' points)',
    candidate_factors   Array(Array(Float64))  COMMENT 'Per candidate, each factor''s points, aligned with factor_names'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(made_at)
ORDER BY (tenant_id, subject_type, subject_id)
COMMENT 'Routing recommendations: one row = the top candidates for one new ticket or complaint.';

CREATE TABLE IF NOT EXISTS routing_decisions
(
    decision_id       UUID                   COMMENT 'Deterministic id of (tenant, ticket)',
    tenant_id         LowCardinality(String) COMMENT 'Tenant',
    ticket_id         String                 COMMENT 'The routed ticket',
    recommendation_id UUID                   COMMENT 'Its recommendation (routing_recommendations)',
    version           UInt64                 COMMENT 'Changes folded in: 1 at the assignment, +1 per outcome (the highest wins)',
    assigned_at       DateTime64(3, 'UTC')   COMMENT 'Event time of the ticket''s first assignment after its recommendation',
    agent_id          String                 COMMENT 'The agent it was assigned to',
    assigned_by       LowCardinality(String) COMMENT 'auto | manual (ticket.assigned.assigned_by)',
    rank              UInt8                  COMMENT 'The agent''s place among the candidates (1 = top pick; 0 = not a candidate)',
    adoption          LowCardinality(String) COMMENT 'top (rank 1) | top_n (rank 2..N) | outside (not recommended)',
    first_response_s  Nullable(Float64)      COMMENT 'First response - creation (s); NULL until the first response',
    handle_time_s     Nullable(Float64)      COMMENT 'First resolution - the last assignment before it (s); NULL until resolved',
    csat              Nullable(UInt8)        COMMENT 'The ticket''s latest CSAT rating; NULL until rated',
    reopened          Bool                   COMMENT 'Reopened after a resolution',
    updated_at        DateTime64(3, 'UTC')   COMMENT 'Event time of the latest change'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(assigned_at)
ORDER BY (tenant_id, ticket_id)
COMMENT 'Routing decision log: one row (after FINAL) = one routed ticket''s first assignment vs its recommendation, with its outcomes.';
