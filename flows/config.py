"""What the dataflows need to know, independent of how the process was configured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flows.demand import DemandConfig
from flows.kb import KbConfig
from flows.sla import SlaPolicy
from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES
from schemas.risk import RiskModel

FLOW_NAMES: tuple[str, ...] = (
    "ingest",
    "agent_performance",
    "client_risk",
    "live_ops",
    "demand",
    "kb",
)


def system_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FlowConfig:
    """Tunables of the flows; ``now`` is injected so tests control wall time."""

    flows: frozenset[str] = frozenset(FLOW_NAMES)
    allowed_lateness_s: float = 60.0
    dedup_window_s: float = 3600.0
    max_future_s: float | None = 86_400.0  # reject events stamped this far ahead
    max_past_s: float | None = 34_560_000.0  # ... or this far behind (400 days)
    dlq_max_raw_bytes: int = DEFAULT_DLQ_MAX_RAW_BYTES  # raw bytes a dead letter keeps
    provisional_interval_s: float = 5.0
    shards: int = 32
    idle_advance: bool = True
    ops_snapshot_interval_s: float = 60.0  # live-ops history grid (event time)
    risk_model: RiskModel = field(default_factory=RiskModel)
    sla_policy: SlaPolicy = field(default_factory=SlaPolicy)
    demand: DemandConfig = field(default_factory=DemandConfig)
    kb: KbConfig = field(default_factory=KbConfig)
    provisional: bool = True  # publish open windows live (off for bounded replays)
    input_partitions: int | None = None  # lets watermarks wait for every partition
    idle_timeout_s: float = 30.0  # live mode: a tenant silent this long on a partition
    events_topic: str = "events"  # named in the dead letters of processing errors
    now: Callable[[], datetime] = field(default=system_utc)

    def __post_init__(self) -> None:
        unknown = self.flows - set(FLOW_NAMES)
        if unknown:
            raise ValueError(f"unknown flow(s) {sorted(unknown)}; known: {list(FLOW_NAMES)}")
