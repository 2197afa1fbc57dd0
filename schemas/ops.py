"""Live-operations snapshot of one tenant: queues, agents, CSAT mix and message mix.

Built by ``flows.ops.live_ops.LiveOps`` from event time only, so a replay yields the very
same snapshots. Stored as ``ops_snapshots`` (one row per tenant and instant) and
``ops_queue_snapshots`` (one row per queue), see ``infra/clickhouse``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.events import AgentStatus
from schemas.ids import stable_id

MessageKind = Literal["text", "image", "file", "audio", "video"]
CsatRating = Literal["1", "2", "3", "4", "5"]

AGENT_STATUSES: tuple[AgentStatus, ...] = ("active", "idle", "in_call", "offline")
MESSAGE_KINDS: tuple[MessageKind, ...] = ("text", "image", "file", "audio", "video")
CSAT_RATINGS: tuple[CsatRating, ...] = ("1", "2", "3", "4", "5")

CSAT_WINDOW_S = 86_400  # csat_distribution covers the 24 h of event time up to as_of
MESSAGE_WINDOW_S = 3_600  # messages_last_hour covers the hour of event time up to as_of

Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueueState(_Frozen):
    """One queue at ``as_of``: sessions queued and not yet started or ended.

    Waits are ``as_of - queued_at`` (clamped at 0); both are 0.0 for an empty queue.
    """

    queue: str
    depth: Count
    oldest_wait_s: Seconds
    avg_wait_s: Seconds


class OpsSnapshot(_Frozen):
    """One tenant's live operations at ``as_of`` (event time).

    ``queues``: sorted by name; a queue is listed while it has waiting sessions or saw
    any session event in the 24 h up to ``as_of`` (so an emptied queue shows depth 0).
    Every dict lists all its keys, zeros included.
    """

    tenant_id: str
    as_of: AwareDatetime
    queues: list[QueueState]
    agents_by_status: dict[AgentStatus, Count]
    csat_distribution: dict[CsatRating, Count]
    messages_last_hour: dict[MessageKind, Count]


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue of one snapshot, as stored in ``ops_queue_snapshots``."""

    tenant_id: str
    as_of: datetime
    state: QueueState


def snapshot_id(tenant_id: str, as_of: datetime | int) -> UUID:
    """Deterministic id of one tenant's snapshot at ``as_of`` (aware datetime or epoch ms)."""
    if isinstance(as_of, datetime):
        as_of = (as_of - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return stable_id("ops_snapshot", tenant_id, as_of)
