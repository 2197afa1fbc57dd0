"""The alert lifecycle: ``open`` → ``acknowledged`` → ``resolved``, and its action rows.

An alert is born ``open``. An action moves it forward: ``acknowledge`` to
``acknowledged``, ``resolve`` to ``resolved`` (from ``open`` too). Nothing moves it back:
an acknowledgement after a resolution leaves it resolved, and a repeated action is no
change at all. So an alert's state is the furthest state any of its actions reached,
whatever order the actions are stored or read in (:func:`state_of`); the SQL of
``sinks.reader_alerts`` derives it the same way.

Each action is a row of ``alert_actions`` (:class:`AlertAction`) whose ``action_id``
is the UUIDv5 of (tenant, alert, action, actor): an alert has at most one ``acknowledge``
and one ``resolve`` per actor, so a retried or concurrent request, or a replayed flow,
rewrites the same row. ``actor`` is ``api`` for a person through the API and
``system`` for a flow (a threshold episode that ended resolves its alert).

A state change is also announced on the alerts topic (:class:`AlertStateChange`, header
``cxpulse.type: alert_state``) so that every API replica streams it to the tenant's
clients; messages there without that header are alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal
from uuid import UUID

from pydantic import Field

from schemas.ids import stable_id
from schemas.results import Alert, AlertKind, AlertSeverity
from schemas.rows import Row, UtcDatetime

AlertState = Literal["open", "acknowledged", "resolved"]
ALERT_STATES: tuple[AlertState, ...] = ("open", "acknowledged", "resolved")
AlertActionKind = Literal["acknowledge", "resolve"]
Actor = Literal["api", "system"]

# The state each action leads to, and the order states are reached in.
ACTION_STATE: dict[AlertActionKind, AlertState] = {
    "acknowledge": "acknowledged",
    "resolve": "resolved",
}
_RANK: dict[str, int] = {state: i for i, state in enumerate(ALERT_STATES)}

MAX_NOTE_CHARS = 1_000  # a note is a short remark, not a document

# The alerts topic carries alerts and state changes; this header tells them apart.
MESSAGE_TYPE_HEADER = "cxpulse.type"
ALERT_STATE_TYPE = "alert_state"


def after(state: AlertState, action: AlertActionKind) -> AlertState:
    """The state ``action`` leaves an alert in ``state`` in: never an earlier one."""
    target = ACTION_STATE[action]
    return target if _RANK[target] > _RANK[state] else state


def changes(state: AlertState, action: AlertActionKind) -> bool:
    """Whether ``action`` moves an alert in ``state`` (false: an idempotent repeat, or an
    acknowledgement of a resolved alert)."""
    return after(state, action) != state


def state_of(actions: Iterable[AlertActionKind]) -> AlertState:
    """The state of an alert with these actions, in any order (none: ``open``)."""
    state: AlertState = "open"
    for action in actions:
        state = after(state, action)
    return state


def action_id(tenant_id: str, alert_id: UUID, action: AlertActionKind, actor: Actor) -> UUID:
    """Deterministic: one row per (alert, action, actor), whoever repeats it."""
    return stable_id("alert_action", tenant_id, alert_id, action, actor)


class AlertAction(Row):
    """One lifecycle action on an alert: the row type of ``alert_actions``."""

    action_id: UUID = Field(
        description="stable_id('alert_action', tenant_id, alert_id, action, actor)"
    )
    tenant_id: str
    alert_id: UUID
    action: AlertActionKind = Field(description="acknowledge | resolve")
    note: str = Field(
        default="", max_length=MAX_NOTE_CHARS, description="The actor's remark ('' if none)"
    )
    actor: Actor = Field(description="api (a person through the API) | system (a flow)")
    at: UtcDatetime = Field(
        description="When it was done: wall time for api, event time for system"
    )

    @classmethod
    def of(
        cls,
        tenant_id: str,
        alert_id: UUID,
        action: AlertActionKind,
        actor: Actor,
        at: UtcDatetime,
        note: str = "",
    ) -> AlertAction:
        return cls(
            action_id=action_id(tenant_id, alert_id, action, actor),
            tenant_id=tenant_id,
            alert_id=alert_id,
            action=action,
            note=note,
            actor=actor,
            # to the millisecond, as alert_actions stores it: the POST's answer and the
            # SSE announcement then equal what GET /v1/alerts reads back
            at=at.replace(microsecond=at.microsecond // 1000 * 1000),
        )


class AlertWithState(Alert):
    """An alert with its lifecycle state (derived from its ``alert_actions``)."""

    state: AlertState = Field(
        default="open",
        description="open, acknowledged or resolved: the furthest state its actions reached",
    )
    state_at: UtcDatetime | None = Field(
        default=None, description="When the alert reached its state (null while open)"
    )


class AlertStateChange(Row):
    """An alert's new state, as announced on the alerts topic (header
    ``cxpulse.type: alert_state``). ``kind`` and ``severity`` are the alert's, so a
    stream subscriber's filters apply to its state changes as to its alerts."""

    tenant_id: str
    alert_id: UUID
    kind: AlertKind
    severity: AlertSeverity
    state: AlertState
    at: UtcDatetime = Field(description="When the alert reached this state")
    action: AlertActionKind
    actor: Actor
    note: str | None = Field(default=None, description="The actor's remark, if any")

    @classmethod
    def of(cls, alert: Alert, action: AlertAction) -> AlertStateChange:
        """The announcement of ``action`` on ``alert`` (which it must change)."""
        return cls(
            tenant_id=alert.tenant_id,
            alert_id=alert.alert_id,
            kind=alert.kind,
            severity=alert.severity,
            state=ACTION_STATE[action.action],
            at=action.at,
            action=action.action,
            actor=action.actor,
            note=action.note or None,
        )
