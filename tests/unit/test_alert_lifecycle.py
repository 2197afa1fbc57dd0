"""The alert lifecycle: state derivation, action ids, and the state-change messages on the
alerts topic (encoding, the type header, the feed's decoding and tenant filter)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from api.alert_events import AlertFilter, decode_message
from api.routers.alerts import AlertActionIn
from api.routers.stream import format_event
from schemas.alert_lifecycle import (
    ALERT_STATES,
    MAX_NOTE_CHARS,
    AlertAction,
    AlertActionKind,
    AlertStateChange,
    AlertWithState,
    action_id,
    after,
    changes,
    state_of,
)
from schemas.results import SEVERITY_RANK, Alert
from schemas.settings import Settings
from sinks import tables
from sinks.alert_states import encode_alert_state, is_alert, message_type
from sinks.kafka_sink import encode_alert
from sinks.result_rows import RowCodec
from sinks.webhooks.dispatcher import WebhookDispatcher

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
ALERT_ID = uuid.UUID("3f0c4d1e-5b7a-4c2e-8d9f-0a1b2c3d4e5f")


def make_alert(tenant: str = "acme", **kw: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": ALERT_ID,
        "tenant_id": tenant,
        "kind": "coaching",
        "severity": "high",
        "subject_type": "agent",
        "subject_id": "a1",
        "title": "CSAT 1 for a1",
        "details": {"rating": 1},
        "event_time": T0,
        "fired_at": T0,
        **kw,
    }
    return Alert.model_validate(fields)


# --- state derivation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        ("open", "acknowledge", "acknowledged"),
        ("open", "resolve", "resolved"),  # resolving an open alert is allowed
        ("acknowledged", "acknowledge", "acknowledged"),  # a repeat: one state
        ("acknowledged", "resolve", "resolved"),
        ("resolved", "resolve", "resolved"),
        ("resolved", "acknowledge", "resolved"),  # never reopens, never goes back
    ],
)
def test_transitions(state: Any, action: Any, expected: str) -> None:
    assert after(state, action) == expected
    assert changes(state, action) == (expected != state)


def test_no_action_is_open() -> None:
    assert state_of([]) == "open"
    assert state_of(["acknowledge"]) == "acknowledged"
    assert state_of(["resolve", "acknowledge"]) == "resolved"


ACTIONS = st.lists(st.sampled_from(["acknowledge", "resolve"]), max_size=8)


@given(actions=ACTIONS, data=st.data())
def test_state_ignores_order_and_repeats(actions: list[AlertActionKind], data: Any) -> None:
    """What the SQL relies on: the state is a function of the set of actions."""
    shuffled = data.draw(st.permutations(actions))
    assert state_of(shuffled) == state_of(actions)
    assert state_of(actions + actions) == state_of(actions)
    expected = (
        "resolved"
        if "resolve" in actions
        else "acknowledged"
        if "acknowledge" in actions
        else "open"
    )
    assert state_of(actions) == expected


@given(actions=ACTIONS)
def test_state_only_moves_forward(actions: list[AlertActionKind]) -> None:
    ranks = [ALERT_STATES.index(state_of(actions[:i])) for i in range(len(actions) + 1)]
    assert ranks == sorted(ranks)


# --- action rows ------------------------------------------------------------------------


def test_action_id_is_one_per_alert_action_and_actor() -> None:
    ids = {
        action_id(tenant, alert, action, actor)
        for tenant in ("acme", "globex")
        for alert in (ALERT_ID, uuid.uuid4())
        for action in ("acknowledge", "resolve")
        for actor in ("api", "system")
    }
    assert len(ids) == 16
    assert action_id("acme", ALERT_ID, "resolve", "api") == action_id(
        "acme", ALERT_ID, "resolve", "api"
    )
    a = AlertAction.of("acme", ALERT_ID, "resolve", "api", T0, "done")
    b = AlertAction.of("acme", ALERT_ID, "resolve", "api", T0 + timedelta(hours=1))
    assert a.action_id == b.action_id  # a repeat rewrites the same row


def test_action_row_bounds_its_note_and_values() -> None:
    AlertAction.of("acme", ALERT_ID, "acknowledge", "api", T0, "x" * MAX_NOTE_CHARS)
    with pytest.raises(ValidationError):
        AlertAction.of("acme", ALERT_ID, "acknowledge", "api", T0, "x" * (MAX_NOTE_CHARS + 1))
    with pytest.raises(ValidationError):
        AlertAction.of("acme", ALERT_ID, "reopen", "api", T0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        AlertAction.of("acme", ALERT_ID, "resolve", "someone", T0)  # type: ignore[arg-type]


def test_request_body_is_bounded_and_strict() -> None:
    assert AlertActionIn.model_validate({}).note is None
    assert AlertActionIn.model_validate({"note": "on it"}).note == "on it"
    for bad in ({"note": "x" * (MAX_NOTE_CHARS + 1)}, {"note": 3}, {"state": "open"}):
        with pytest.raises(ValidationError):
            AlertActionIn.model_validate(bad)


def test_alert_with_state_defaults_to_open() -> None:
    alert = AlertWithState.model_validate(make_alert().model_dump())
    assert (alert.state, alert.state_at) == ("open", None)


# --- state changes on the alerts topic -----------------------------------------------


def change(tenant: str = "acme", note: str = "", **alert: Any) -> AlertStateChange:
    action = AlertAction.of(tenant, ALERT_ID, "acknowledge", "api", T0, note)
    return AlertStateChange.of(make_alert(tenant, **alert), action)


def test_state_change_message_and_its_type_header() -> None:
    key, value, headers = encode_alert_state(change(note="calling the client"))
    assert key == f"acme/{ALERT_ID}".encode()
    assert message_type(headers) == "alert_state"
    assert not is_alert(headers)
    assert json.loads(value) == {
        "tenant_id": "acme",
        "alert_id": str(ALERT_ID),
        "kind": "coaching",
        "severity": "high",
        "state": "acknowledged",
        "at": "2026-03-02T10:00:00+00:00",
        "action": "acknowledge",
        "actor": "api",
        "note": "calling the client",
    }
    # alerts carry no type header (or "alert"); header values may come as str or bytes
    assert is_alert(encode_alert(make_alert())[2])
    assert is_alert(None)
    assert is_alert({"cxpulse.type": "alert"})
    assert not is_alert([("cxpulse.type", "alert_state")])


def test_feed_decodes_both_types_and_skips_unknown_ones() -> None:
    _key, value, headers = encode_alert(make_alert())
    alert = decode_message(0, 7, value, list(headers))
    assert alert is not None
    assert (alert.type, alert.id, alert.tenant_id) == ("alert", "0-7", "acme")
    assert json.loads(alert.data)["state"] == "open"  # just raised
    assert format_event(alert).startswith("event: alert\nid: 0-7\ndata: {")

    _key, value, state_headers = encode_alert_state(change())
    state = decode_message(0, 8, value, state_headers)
    assert state is not None
    assert (state.type, state.kind, state.severity) == ("alert_state", "coaching", "high")
    data = json.loads(state.data)
    assert (data["alert_id"], data["state"], data["note"]) == (str(ALERT_ID), "acknowledged", None)
    assert format_event(state) == f"event: alert_state\nid: 0-8\ndata: {state.data}\n\n"

    assert decode_message(0, 9, b"{}", [("cxpulse.type", b"something_new")]) is None
    with pytest.raises(ValueError):
        decode_message(0, 10, b"{}", state_headers)  # a state change that is not one


def test_state_changes_reach_their_tenant_and_filters_only() -> None:
    _key, value, headers = encode_alert_state(change("acme", kind="sla_breach", severity="low"))
    event = decode_message(0, 1, value, headers)
    assert event is not None
    rank = SEVERITY_RANK
    assert AlertFilter("acme").matches(event)
    assert not AlertFilter("globex").matches(event)  # tenant isolation
    assert AlertFilter("acme", kinds=frozenset({"sla_breach"})).matches(event)
    assert not AlertFilter("acme", kinds=frozenset({"coaching"})).matches(event)
    assert AlertFilter("acme", min_rank=rank["low"]).matches(event)
    assert not AlertFilter("acme", min_rank=rank["medium"]).matches(event)


class _Message:
    """What the webhook dispatcher reads of a confluent_kafka Message."""

    def __init__(self, value: bytes, headers: Any) -> None:
        self._value, self._headers = value, headers

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return self._value

    def headers(self) -> Any:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, int(T0.timestamp() * 1000)

    def topic(self) -> str:
        return "cx.alerts"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 1


def test_webhook_dispatcher_skips_state_changes(caplog: pytest.LogCaptureFixture) -> None:
    """A state change on the alerts topic is no alert to deliver, and no warning either."""
    dispatcher = WebhookDispatcher(Settings(), cast(Any, None))
    _key, value, headers = encode_alert(make_alert())
    decoded = dispatcher._decode(cast(Any, _Message(value, list(headers))))
    assert decoded is not None
    assert decoded[0] == make_alert()
    _key, value, state_headers = encode_alert_state(change())
    with caplog.at_level(logging.WARNING):
        assert dispatcher._decode(cast(Any, _Message(value, state_headers))) is None
    assert not caplog.records


def test_system_actions_are_ready_for_the_result_topic_contract() -> None:
    """alert_actions is a row table the API writes and a result table the storage
    writer takes (the live-ops flow publishes the system's resolutions)."""
    assert tables.ALERT_ACTIONS in tables.ROW_TABLES
    assert any(spec is tables.ALERT_ACTIONS for spec in tables.RESULT_TABLES)
    assert all(spec is not tables.KB_FEEDBACK for spec in tables.RESULT_TABLES)
    codec = RowCodec(tables.ALERT_ACTIONS)
    rows = [
        AlertAction.of("acme", ALERT_ID, "resolve", "system", T0),
        AlertAction.of("acme", ALERT_ID, "acknowledge", "api", T0, "née ✓"),
    ]
    columns, bad = codec.decode_batch([value for _k, value, _h in codec.encode_batch(rows)])
    assert bad == []
    by_name = dict(zip(tables.ALERT_ACTIONS.columns, columns, strict=True))
    assert by_name["actor"] == ["system", "api"]
    assert by_name["note"] == ["", "née ✓"]
    assert by_name["at"] == [int(T0.timestamp() * 1000)] * 2
