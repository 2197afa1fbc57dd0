"""What the dataflows need to know, independent of how the process was configured."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from flows.core.config import CoreConfig
from flows.demand.tenant import DemandConfig
from flows.kb.clusters import KbConfig
from flows.risk.sla import SlaPolicy
from schemas.alert_rules import Rule
from schemas.risk import RiskModel
from schemas.routing import RoutingModel

FLOW_NAMES: tuple[str, ...] = (
    "ingest",
    "agent_performance",
    "client_risk",
    "live_ops",
    "demand",
    "kb",
    "routing",
)


@dataclass(frozen=True, kw_only=True)
class FlowConfig(CoreConfig):
    """The core tunables plus each capability's; which flows run."""

    flows: frozenset[str] = frozenset(FLOW_NAMES)
    redact_text: bool = True  # mask personal data in free text at ingest (ingest/redact.py)
    ops_snapshot_interval_s: float = 60.0  # live-ops history grid (event time)
    risk_model: RiskModel = field(default_factory=RiskModel)
    sla_policy: SlaPolicy = field(default_factory=SlaPolicy)
    demand: DemandConfig = field(default_factory=DemandConfig)
    kb: KbConfig = field(default_factory=KbConfig)
    routing_model: RoutingModel = field(default_factory=RoutingModel)  # schemas/routing.py
    # threshold rules of the rules file, by tenant (flows/ops/rules.py)
    alert_rules: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    # the erasures recorded before this run, by subject digest (schemas/privacy.py; read
    # from the erasures topic at start, so a replay suppresses the erased clients' events)
    erased: Mapping[bytes, UUID] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = self.flows - set(FLOW_NAMES)
        if unknown:
            raise ValueError(f"unknown flow(s) {sorted(unknown)}; known: {list(FLOW_NAMES)}")
