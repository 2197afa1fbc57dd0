"""Live-operations snapshot of one tenant: queues, agents, CSAT mix and message mix.

Built by ``flows.ops.live_ops.LiveOps`` from event time only, so a replay yields the very
same snapshots. Stored as ``ops_snapshots`` (one row per tenant and instant) and
``ops_queue_snapshots`` (one row per queue), see ``infra/clickhouse``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import AgentStatus
from schemas.ids import stable_id
from schemas.rows import AwareUtcDatetime, Flattened, Row, UtcDatetime

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
    depth: Count = Field(description="Sessions queued and not yet started or ended")
    oldest_wait_s: Seconds = Field(description="Wait so far of the longest-waiting session (s)")
    avg_wait_s: Seconds = Field(description="Mean wait so far of the waiting sessions (s)")


class OpsSnapshot(_Frozen):
    """One tenant's live operations at ``as_of`` (event time).

    ``queues``: sorted by name; a queue is listed while it has waiting sessions or saw
    any session event in the 24 h up to ``as_of`` (so an emptied queue shows depth 0).
    Every dict lists all its keys, zeros included.
    """

    tenant_id: str
    as_of: AwareUtcDatetime = Field(description="Event time of the snapshot")
    queues: list[QueueState] = Field(description="Queues by name")
    agents_by_status: dict[AgentStatus, Count] = Field(
        description="Agents by their latest status (every status listed)"
    )
    csat_distribution: dict[CsatRating, Count] = Field(
        description="CSAT ratings 1-5 in the 24 h of event time up to as_of"
    )
    messages_last_hour: dict[MessageKind, Count] = Field(
        description="Messages by kind in the hour of event time up to as_of"
    )


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue of one snapshot: the row type of ``ops_queue_snapshots``."""

    tenant_id: str
    as_of: UtcDatetime
    state: Annotated[QueueState, Flattened()]


_COUNT_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("agents_by_status", "agents_", AGENT_STATUSES),
    ("csat_distribution", "csat_", CSAT_RATINGS),
    ("messages_last_hour", "messages_", MESSAGE_KINDS),
)


class OpsSnapshotRow(Row):
    """The row type of ``ops_snapshots``: a snapshot without its queues (they are
    :class:`QueueRow`), each count of its dicts in a column ``<prefix><key>``."""

    snapshot_id: UUID = Field(description="snapshot_id(tenant_id, as_of)")
    tenant_id: str
    as_of: UtcDatetime
    agents_active: int
    agents_idle: int
    agents_in_call: int
    agents_offline: int
    csat_1: int
    csat_2: int
    csat_3: int
    csat_4: int
    csat_5: int
    messages_text: int
    messages_image: int
    messages_file: int
    messages_audio: int
    messages_video: int

    @classmethod
    def of(cls, s: OpsSnapshot) -> OpsSnapshotRow:
        values: dict[str, Any] = {
            "snapshot_id": snapshot_id(s.tenant_id, s.as_of),
            "tenant_id": s.tenant_id,
            "as_of": s.as_of,
        }
        for field, prefix, keys in _COUNT_COLUMNS:
            counts = getattr(s, field)
            values.update({f"{prefix}{k}": counts[k] for k in keys})
        return cls.model_validate(values)

    def snapshot(self, queues: list[QueueState]) -> OpsSnapshot:
        """The :class:`OpsSnapshot` this row and its queue rows store."""
        counts = {
            field: {k: getattr(self, f"{prefix}{k}") for k in keys}
            for field, prefix, keys in _COUNT_COLUMNS
        }
        return OpsSnapshot.model_validate(
            {"tenant_id": self.tenant_id, "as_of": self.as_of, "queues": queues, **counts}
        )


def snapshot_id(tenant_id: str, as_of: datetime | int) -> UUID:
    """Deterministic id of one tenant's snapshot at ``as_of`` (aware datetime or epoch ms)."""
    if isinstance(as_of, datetime):
        as_of = (as_of - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return stable_id("ops_snapshot", tenant_id, as_of)
