"""What event time and the stateful base need to know; no capability's tunables.

``flows.config.FlowConfig`` extends it with each capability's settings, so core code
never imports a capability (and tests can build a core step with this alone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flows.core.timeutil import system_utc
from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES


@dataclass(frozen=True, kw_only=True)
class CoreConfig:
    """Event-time and wiring tunables; ``now`` is injected so tests control wall time."""

    allowed_lateness_s: float = 60.0
    dedup_window_s: float = 3600.0
    max_future_s: float | None = 86_400.0  # reject events stamped this far ahead
    max_past_s: float | None = 34_560_000.0  # ... or this far behind (400 days)
    dlq_max_raw_bytes: int = DEFAULT_DLQ_MAX_RAW_BYTES  # raw bytes a dead letter keeps
    provisional_interval_s: float = 5.0
    shards: int = 32
    idle_advance: bool = True
    provisional: bool = True  # publish open windows live (off for bounded replays)
    input_partitions: int | None = None  # lets watermarks wait for every partition
    idle_timeout_s: float = 30.0  # live mode: a tenant silent this long on a partition
    events_topic: str = "events"  # named in the dead letters of processing errors
    tenant_topics: bool = False  # input per tenant: <events_topic>.<tenant> (tenant_mismatch)
    now: Callable[[], datetime] = field(default=system_utc)
