"""Live operations: per-tenant queue, agent and CSAT state with snapshots on an event-time grid."""
