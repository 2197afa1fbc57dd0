"""Live-operations snapshot of one tenant: queues, agents, CSAT mix, message mix, open
complaints and the per-agent live board.

Built by ``flows.ops.live_ops.LiveOps`` from event time only, so a replay yields the very
same snapshots. Stored as ``ops_snapshots`` (one row per tenant and instant),
``ops_queue_snapshots`` (one row per queue) and ``ops_agent_board`` (one row per agent:
its latest board state), see ``infra/clickhouse``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import AgentStatus, Severity
from schemas.ids import stable_id
from schemas.rows import AwareUtcDatetime, Flattened, Row, UtcDatetime

MessageKind = Literal["text", "image", "file", "audio", "video"]
CsatRating = Literal["1", "2", "3", "4", "5"]

AGENT_STATUSES: tuple[AgentStatus, ...] = ("active", "idle", "in_call", "offline")
MESSAGE_KINDS: tuple[MessageKind, ...] = ("text", "image", "file", "audio", "video")
CSAT_RATINGS: tuple[CsatRating, ...] = ("1", "2", "3", "4", "5")
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")

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
    active_sessions: Count = Field(
        0,
        description="Sessions of this queue started and not yet ended (a session that "
        "started over 24 h of event time ago without ending is taken as lost)",
    )


class AgentBoardState(_Frozen):
    """One agent on the live board at ``as_of`` (see ``flows.ops.live_ops``).

    An agent is on the board once any event names it (status, session, ticket
    assignment/response/resolution, complaint resolution); ``status`` and ``since`` are
    null until its first ``agent.status_changed``.
    """

    agent_id: str
    status: AgentStatus | None = Field(description="Latest status by event time; null: none yet")
    since: UtcDatetime | None = Field(
        description="Event time the agent entered its current status (a repeated status "
        "keeps the earlier time)"
    )
    last_event_at: UtcDatetime = Field(description="Latest event time of any event naming it")
    active_sessions: Count = Field(description="Its sessions started and not yet ended")
    sessions_today: Count = Field(
        description="Sessions it started in the UTC day of as_of (event time)"
    )
    open_tickets: Count = Field(
        description="Tickets whose latest assignment is to it, not resolved since"
    )


class PeakHour(_Frozen):
    """The busiest clock hour of the UTC day of ``as_of`` for messages."""

    hour: UtcDatetime = Field(description="Start of the hour (UTC, event time)")
    count: Count = Field(description="Messages sent in [hour, hour + 1 h)")


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
    open_complaints: dict[Severity, Count] = Field(
        default_factory=lambda: dict.fromkeys(SEVERITIES, 0),
        description="Complaints created or escalated and not resolved, by their latest "
        "severity (every severity listed)",
    )
    messages_peak_hour: PeakHour | None = Field(
        None,
        description="Busiest hour of the UTC day of as_of for messages (ties: the "
        "earlier); null before the day's first message",
    )
    agents: list[AgentBoardState] = Field(
        default_factory=list, description="The live board: every agent seen, by agent id"
    )


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queue of one snapshot: the row type of ``ops_queue_snapshots``."""

    tenant_id: str
    as_of: UtcDatetime
    state: Annotated[QueueState, Flattened()]


@dataclass(frozen=True, slots=True)
class AgentBoardRow:
    """One agent's board state as of a snapshot: the row type of ``ops_agent_board``.

    The table keeps one row per agent, the one of the greatest ``as_of`` (a
    ``ReplacingMergeTree(as_of)``); a snapshot writes rows only for agents whose board
    state changed since the previous one (see ``LiveOps.board_changes``).
    """

    tenant_id: str
    as_of: UtcDatetime
    state: Annotated[AgentBoardState, Flattened()]


_COUNT_COLUMNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("agents_by_status", "agents_", AGENT_STATUSES),
    ("csat_distribution", "csat_", CSAT_RATINGS),
    ("messages_last_hour", "messages_", MESSAGE_KINDS),
    ("open_complaints", "open_complaints_", SEVERITIES),
)


class OpsSnapshotRow(Row):
    """The row type of ``ops_snapshots``: a snapshot without its queues (they are
    :class:`QueueRow`) and its board (:class:`AgentBoardRow`), each count of its dicts in
    a column ``<prefix><key>``, the peak hour in two columns."""

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
    open_complaints_low: int
    open_complaints_medium: int
    open_complaints_high: int
    open_complaints_critical: int
    messages_peak_hour: UtcDatetime | None = Field(description="Start of the peak hour")
    messages_peak_hour_count: int = Field(description="Messages in it (0: none yet)")

    @classmethod
    def of(cls, s: OpsSnapshot) -> OpsSnapshotRow:
        values: dict[str, Any] = {
            "snapshot_id": snapshot_id(s.tenant_id, s.as_of),
            "tenant_id": s.tenant_id,
            "as_of": s.as_of,
            "messages_peak_hour": None
            if s.messages_peak_hour is None
            else s.messages_peak_hour.hour,
            "messages_peak_hour_count": 0
            if s.messages_peak_hour is None
            else s.messages_peak_hour.count,
        }
        for field, prefix, keys in _COUNT_COLUMNS:
            counts = getattr(s, field)
            values.update({f"{prefix}{k}": counts[k] for k in keys})
        return cls.model_validate(values)

    def snapshot(self, queues: list[QueueState], agents: list[AgentBoardState]) -> OpsSnapshot:
        """The :class:`OpsSnapshot` this row, its queue rows and the board store."""
        counts = {
            field: {k: getattr(self, f"{prefix}{k}") for k in keys}
            for field, prefix, keys in _COUNT_COLUMNS
        }
        peak = None
        if self.messages_peak_hour is not None:
            peak = {"hour": self.messages_peak_hour, "count": self.messages_peak_hour_count}
        return OpsSnapshot.model_validate(
            {
                "tenant_id": self.tenant_id,
                "as_of": self.as_of,
                "queues": queues,
                "agents": agents,
                "messages_peak_hour": peak,
                **counts,
            }
        )


def snapshot_id(tenant_id: str, as_of: datetime | int) -> UUID:
    """Deterministic id of one tenant's snapshot at ``as_of`` (aware datetime or epoch ms)."""
    if isinstance(as_of, datetime):
        as_of = (as_of - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return stable_id("ops_snapshot", tenant_id, as_of)
