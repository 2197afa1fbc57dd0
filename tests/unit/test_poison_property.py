"""Poison-pill immunity, as a property: generated Kafka messages through ``decode`` and
through the logic of every flow, wired as ``flows/*_flow.py`` wire it.

The messages are valid envelopes of every event type with fuzzed fields (event times at
both ends of the accepted range 1900-01-01 .. 2298-12-31 23:59:59.999 UTC and of what
ClickHouse stores, up to 2299-12-31, written with offsets up to +-23:59, in any precision
or as epoch numbers; ids and labels of any Unicode including emoji, RTL overrides, NUL
and escaped surrogate pairs; texts at their length limits; numbers at their bounds,
subnormal and negative zero; duplicate JSON keys whichever wins) and broken ones
(dropped, extra, mistyped and over-long fields, unknown types, nested and deep junk,
truncated or flipped bytes, invalid UTF-8, lone surrogate escapes, hundreds of KB,
arbitrary bytes).

- Property A: ``decode`` never raises and turns every message into exactly one
  ``Accepted`` or one bounded ``DeadLetter``.
- Property B: the accepted events go through the input clock, dedup and every stateful
  step (with ticks, epochs closed at random points, a pickle round trip of every step at
  a random epoch, and the end of input), and through the stateless functions the wiring
  calls. Nothing raises; no step dead-letters anything as ``processing_error`` (the base
  class turns a bug in a flow's logic into such a letter, so one here is a bug); every
  row builds as its sink builds it, with every instant in what ClickHouse stores.
- Property C: the same through ``build_flow`` run by Bytewax: it ends normally and every
  message is a stored event (or a repeat of one) or an ingest dead letter.

``--hypothesis-show-statistics`` lists what property B reached (row kinds, alerts).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

from bytewax.testing import run_main
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from flows.agents.coaching import coaching_alert
from flows.agents.facts import AGENT_EVENT_TYPES, AgentFact
from flows.agents.flow import _coaching
from flows.agents.keys import agent_shard
from flows.agents.stateful import AgentWindowLogic, TicketFactsLogic
from flows.config import FlowConfig
from flows.core.clock import PartitionClock, TenantClocks, Tick
from flows.core.clock_flow import partition_key, sourced, to_shards, to_tenant
from flows.core.keys import event_tenant, ticket_key, ticket_shard
from flows.core.origin import event_order, event_origin
from flows.core.stateful import EventTimeLogic
from flows.core.timeutil import to_ms
from flows.core.wiring import of_types
from flows.demand.stateful import DemandLogic
from flows.demand.tenant import DEMAND_EVENT_TYPES, demand_segments
from flows.ingest.decode import decode
from flows.ingest.flow import _decode_batch_now
from flows.ingest.stateful import DedupLogic
from flows.kb.flow import ARTICLE_TYPES, TICKET_TEXT_TYPES
from flows.kb.stateful import KbClustersLogic, KbItem, TicketTextsLogic, article_item, item_tenant
from flows.ops.flow import queue_rows
from flows.ops.live_ops import LIVE_OPS_EVENT_TYPES
from flows.ops.stateful import LiveOpsLogic
from flows.pipeline import build_flow
from flows.risk.client_risk import RiskSignal, signals_from_event
from flows.risk.complaints import COMPLAINT_TYPES
from flows.risk.flow import (
    CLIENT_TYPES,
    TICKET_TYPES,
    client_key,
    complaint_key,
    direct_signals,
)
from flows.risk.sla import MAX_SLA_HOURS, PRIORITIES, SlaPolicy
from flows.risk.stateful import (
    ClientRiskLogic,
    ComplaintAlertLogic,
    TicketRiskLogic,
    signal_order,
)
from schemas.demand import BacktestRow, DemandHourly, ForecastSnapshot
from schemas.events import (
    OCCURRED_AT_MAX,
    OCCURRED_AT_MIN,
    PAYLOADS,
    STORABLE_MAX,
    STORABLE_MIN,
    entity_key,
)
from schemas.kb import KbSuggestion
from schemas.ops import AgentBoardRow, OpsSnapshot, QueueRow
from schemas.privacy import Erasure
from schemas.results import (
    DEFAULT_DLQ_MAX_RAW_BYTES,
    MAX_DLQ_ERROR_CHARS,
    MAX_DLQ_KEY_BYTES,
    AgentWindow,
    Alert,
    DeadLetter,
    LateEvent,
    make_dead_letter,
)
from schemas.risk import ClientRisk
from schemas.routing import RoutingDecision, RoutingRecommendation
from schemas.transport import Accepted, RawMessage
from sinks.clickhouse_sink import row_json
from sinks.tables import (
    AGENT_PERFORMANCE,
    ALERTS,
    CLIENT_RISK,
    DEAD_LETTERS,
    DEMAND_BACKTEST,
    DEMAND_FORECAST,
    DEMAND_HOURLY,
    ERASURES,
    EVENTS,
    KB_SUGGESTIONS,
    LATE_EVENTS,
    OPS_AGENT_BOARD,
    OPS_QUEUE_SNAPSHOTS,
    OPS_SNAPSHOTS,
    ROUTING_DECISIONS,
    ROUTING_RECOMMENDATIONS,
    TableSpec,
)
from tests.unit.helpers import T0, MemoryIO, envelope, to_bytes

MS = timedelta(milliseconds=1)
DAY_MS = 86_400_000
MAX_FUTURE = timedelta(days=1)
MAX_PAST = timedelta(days=400)
TOPIC = "cx.events"

# ---- strategies: values ------------------------------------------------------------------
#
# Strategies are built once, at import: building them inside draws costs more than the
# flows' own work.

# Ids and labels shared by many events, so that joins (ticket <-> agent, ticket <-> client,
# session <-> queue) and dedup actually happen; the rest are arbitrary text.
_KEYS = (
    "tk-1",
    "tk-2",
    "a",
    "\u0000",
    " ",
    "ü名🙂",
    "👩\u200d👩\u200d👧\u200d👦",
    "\u202eevil\u202c",
    "مرحبا",
    "שלום",
    "e\u0301",
    "\U0010ffff",
    "x" * 128,
)
_TENANTS = ("t1", "t2", "T.-_9", "x" * 64)
_EVENT_IDS = tuple(uuid.UUID(int=i) for i in (0, 1, 2**128 - 1))
_WORD_TEXT = "refund charged twice invoice billing password reset login locked account ünïcödé"
_WORDS = (*_WORD_TEXT.split(), "退款", "账户", "إعادة", "🙂", "⚠️")
_PHRASES = (
    "I was charged twice for my invoice this month",
    "Charged two times on the same invoice, please refund",
    "Double charge on my invoice, need a refund",
    "Cannot log in: password reset link expired",
    "Password reset email never arrives, login locked",
)
_CHARS = st.characters(exclude_categories=("Cs",))


def _words(seed: int, n: int, max_len: int) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(_WORDS) for _ in range(n))[:max_len]


def _text(min_len: int, max_len: int) -> st.SearchStrategy[str]:
    """Valid strings of a field: a few shared ones (so that joins and dedup happen), any
    Unicode, words and phrases (so that KB clusters form), or as long as allowed (one
    repeated character: cheap to generate)."""
    fits = [k for k in _KEYS if min_len <= len(k) <= max_len] or ["x" * max(min_len, 1)]
    common = st.sampled_from(fits[:3])
    n_words = st.integers(max(min_len, 1), 30)
    words = st.builds(partial(_words, max_len=max_len), st.integers(0, 2**32), n_words)
    longest = st.builds(
        lambda c, n: c * n, _CHARS, st.sampled_from(sorted({max(max_len - 1, min_len), max_len}))
    )
    options = [
        common,
        common,
        common,
        st.sampled_from(fits),
        words,
        st.text(_CHARS, min_size=min_len, max_size=min(max_len, 40)),
        longest,
    ]
    if max_len >= 500:
        options += [st.sampled_from(_PHRASES)] * 6
    return st.one_of(options)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)


class Obj(list[tuple[str, Any]]):
    """A JSON object as its entries: keys may repeat (the parser keeps the last)."""


_JUNK: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(st.tuples(st.text(max_size=5), inner), max_size=3).map(Obj),
    ),
    max_leaves=8,
)


def _from_schema(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of one payload field, from its JSON Schema (so new fields are covered)."""
    options = prop.get("anyOf")
    if options:
        real = [o for o in options if o.get("type") != "null"]
        return st.one_of(st.none(), _from_schema(real[0]))
    if "const" in prop:
        return st.just(prop["const"])
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    kind = prop.get("type")
    if kind == "string":
        return _text(prop.get("minLength", 0), prop.get("maxLength", 200))
    if kind == "integer":
        lo, hi = prop.get("minimum", -(2**63)), prop.get("maximum", 2**63)
        return st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi))
    if kind == "number":
        lo, hi = prop.get("minimum", -1e308), prop.get("maximum", 1e308)
        edges = [lo, hi, 0.0, -0.0, 5e-324, 2.2250738585072014e-308, int(hi), int(lo)]
        ok = [x for x in edges if lo <= x <= hi]
        return st.one_of(st.sampled_from(ok), st.floats(lo, hi), st.integers(int(lo), int(hi)))
    raise AssertionError(f"no strategy for payload field schema {prop}")


# event type -> field -> (required, values)
_FIELDS: dict[str, dict[str, tuple[bool, st.SearchStrategy[Any]]]] = {}
for _et, _model in PAYLOADS.items():
    _schema = _model.model_json_schema()
    _required = set(_schema.get("required", ()))
    _FIELDS[_et] = {
        name: (name in _required, _from_schema(prop))
        for name, prop in _schema["properties"].items()
    }
_EVENT_TYPES = st.sampled_from(sorted(PAYLOADS))
# Some inputs keep to a few event types, so that their state goes deep: tickets that
# breach, clusters that open, hours that close with a forecast.
_SCENARIOS = (
    ("ticket.created", "ticket.assigned", "ticket.first_response", "ticket.resolved"),
    ("ticket.created", "ticket.assigned", "ticket.resolved", "csat.received"),
    ("ticket.created", "ticket.resolved", "ticket.resolved", "kb.article_created"),
    ("session.queued", "session.started", "session.ended", "message.sent"),
    ("session.queued", "agent.status_changed", "csat.received", "message.sent"),
    ("ticket.created", "service.requested", "session.queued"),
    ("ticket.created", "ticket.reopened", "complaint.created", "complaint.escalated"),
    ("complaint.resolved", "client.health_updated", "csat.received", "ticket.created"),
)
_FOCUS = st.one_of(
    st.just(_EVENT_TYPES),
    st.sampled_from(_SCENARIOS).map(st.sampled_from),
    st.lists(_EVENT_TYPES, min_size=1, max_size=4, unique=True).map(st.sampled_from),
)
_UUID_TEXT = st.one_of(st.uuids(), st.uuids(), st.sampled_from(_EVENT_IDS)).flatmap(
    lambda u: st.sampled_from([str(u), str(u), str(u).upper(), u.hex, f"urn:uuid:{u}"])
)
_TENANT = st.one_of(
    *[st.sampled_from(_TENANTS[:2])] * 4,
    st.sampled_from(_TENANTS),
    st.text("AZaz09_.-", min_size=1, max_size=64),
)
_SOURCE = _text(1, 128)
_CORRELATION = st.one_of(st.none(), _text(0, 128))

# ---- strategies: event times ---------------------------------------------------------------

_OUT_OF_RANGE = (
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999-14:00",
    "9999-12-31T23:59:59.999999+23:59",
    "1899-12-31T23:59:59.999Z",
    "1900-01-01T00:00:00+00:01",
    "1900-01-01T00:00:00+14:00",
    "2298-12-31T23:59:59.9991Z",
    "2299-01-01T00:00:00Z",
    "2299-12-31T23:59:59.999Z",
    "2299-12-31T23:59:59.9991Z",
    "2299-12-31T23:59:59.999-00:01",
    "2299-12-31T23:59:59.999-14:00",
    "2300-01-01T00:00:00Z",
    "2025-02-30T00:00:00Z",
    "2025-01-06T24:00:00Z",
    "2025-01-06T00:00:00+24:00",
    "2025-01-06T00:00:00",
    "2025-01-06",
    "",
    "NaN",
    "1e400",
    "-1e400",
    "99999999999999999999",
)
_TIME_STYLE = st.sampled_from(["iso"] * 6 + ["epoch_s", "epoch_ms", "junk"])
_TIME_JUNK = st.sampled_from(_OUT_OF_RANGE)
_OFFSET_MIN = st.one_of(
    st.sampled_from([0, 14 * 60, -14 * 60, 23 * 60 + 59, -(23 * 60 + 59), 330, -570]),
    st.integers(-1439, 1439),
)
_PRECISION = st.sampled_from(["seconds", "milliseconds", "microseconds"])
_UTC_SUFFIX = st.sampled_from(["+00:00", "Z", "z", "-00:00"])
# A receive time: at either end of the accepted range, at the end of what ClickHouse
# stores (a year later), now-ish, or anywhere.
_RECEIVED = st.one_of(
    st.sampled_from([OCCURRED_AT_MIN, OCCURRED_AT_MAX, OCCURRED_AT_MAX, STORABLE_MAX, T0]),
    st.datetimes(
        min_value=OCCURRED_AT_MIN.replace(tzinfo=None),
        max_value=OCCURRED_AT_MAX.replace(tzinfo=None),
    ).map(lambda d: d.replace(tzinfo=UTC)),
)
# Event time minus receive time (ms): mostly close, sometimes at the decode bounds. The
# flows' tests leave out events 400 days old: legal, but one costs the demand flow
# seconds of hours to close (and forecast) up to the rest.
_NEAR_OFFSET = st.one_of(
    st.integers(-2 * 3_600_000, 60_000),
    st.integers(-8 * 3_600_000, 60_000),
    st.integers(-3 * DAY_MS, DAY_MS),
    st.sampled_from([0, -1, 1, -60_000, -60_001, DAY_MS, DAY_MS + 1]),
)
_FAR_OFFSET = st.one_of(_NEAR_OFFSET, st.sampled_from([-400 * DAY_MS, -400 * DAY_MS - 1]))


def _render(draw: st.DrawFn, instant: datetime) -> str:
    """``instant`` as a producer might write it (any offset, precision or epoch number)."""
    style = draw(_TIME_STYLE)
    if style == "junk":
        return draw(_TIME_JUNK)
    if style == "epoch_s":
        return str(to_ms(instant) // 1000)
    if style == "epoch_ms":
        return str(to_ms(instant))
    minutes = draw(_OFFSET_MIN)
    local = instant.astimezone(timezone(timedelta(minutes=minutes)))
    spec = draw(_PRECISION)
    text = local.isoformat(timespec=spec)
    stamp, offset = text[:-6], text[-6:]
    if spec == "microseconds" and draw(st.booleans()):
        stamp += "789"  # nanoseconds: more digits than Python keeps
    if minutes == 0:
        offset = draw(_UTC_SUFFIX)
    return stamp + offset


# ---- strategies: envelopes, JSON with duplicate keys, broken messages ----------------------


def _encode(value: Any, ascii_only: bool) -> str:
    if isinstance(value, Obj):
        inner = ", ".join(f"{_encode(k, ascii_only)}: {_encode(v, ascii_only)}" for k, v in value)
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_encode(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


@dataclass(frozen=True)
class Context:
    """What the messages of one input share."""

    received: datetime
    rnd: random.Random  # key orders
    types: st.SearchStrategy[str]
    offsets: st.SearchStrategy[int]


def _envelope(draw: st.DrawFn, c: Context) -> Obj:
    et = draw(c.types)
    payload = Obj()
    for name, (required, values) in _FIELDS[et].items():
        if required or draw(st.booleans()):
            payload.append((name, draw(values)))
    instant = c.received + draw(c.offsets) * MS
    env = Obj(
        [
            ("event_id", draw(_UUID_TEXT)),
            ("event_type", et),
            ("schema_version", 1),
            ("tenant_id", draw(_TENANT)),
            ("occurred_at", _render(draw, instant)),
            ("source", draw(_SOURCE)),
            ("payload", payload),
        ]
    )
    if draw(st.booleans()):
        env.append(("correlation_id", draw(_CORRELATION)))
    c.rnd.shuffle(env)
    c.rnd.shuffle(payload)
    return env


def _target(draw: st.DrawFn, env: Obj) -> Obj:
    """The envelope or its payload."""
    payload = next((v for k, v in env if k == "payload" and isinstance(v, Obj)), None)
    return env if payload is None or draw(st.booleans()) else payload


def _index(draw: st.DrawFn, o: Obj) -> int:
    return draw(st.integers(0, len(o) - 1))


def _duplicate(draw: st.DrawFn, env: Obj, junk_wins: bool) -> None:
    """A key repeated with junk: before the real entry (still valid), or after it."""
    target = _target(draw, env)
    if target:
        i = _index(draw, target)
        target.insert(i + 1 if junk_wins else i, (target[i][0], draw(_JUNK)))


_MUTATION = st.sampled_from(
    [
        "drop",
        "length",
        "mistype",
        "extra",
        "dup_last",
        "event_type",
        "schema_version",
        "huge",
        "lone_surrogate",
        "truncate",
        "flip",
        "bom",
        "tail",
        "top_level",
        "deep",
        "bytes",
        "utf8",
        "empty",
    ]
)
_BAD_LENGTH = st.sampled_from(["", "é" * 129, "x" * 20_001])
_BAD_VERSION = st.sampled_from([0, 2, "1", 1.0, True, None])
_TAIL = st.sampled_from([b"x", b"{}", b"\x00", b"\n{}", b" ,"])
_DEPTH = st.sampled_from([200, 1_000, 10_000, 100_000])
_BAD_UTF8 = st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])
_TOP_LEVEL = st.one_of(st.lists(_SCALARS, max_size=3), _SCALARS)


def _broken(draw: st.DrawFn, env: Obj, ascii_only: bool) -> bytes | None:
    how = draw(_MUTATION)
    target = _target(draw, env)
    if how == "drop" and target:
        del target[_index(draw, target)]
    elif how == "length" and target:
        i = _index(draw, target)
        target[i] = (target[i][0], draw(_BAD_LENGTH))
    elif how == "mistype" and target:
        i = _index(draw, target)
        target[i] = (target[i][0], draw(_JUNK))
    elif how == "extra":
        target.append((draw(st.text(max_size=10)), draw(_JUNK)))
    elif how == "dup_last":
        _duplicate(draw, env, junk_wins=True)
    elif how == "event_type":
        env.append(("event_type", draw(st.one_of(st.text(max_size=20), _JUNK))))
    elif how == "schema_version":
        env.append(("schema_version", draw(_BAD_VERSION)))
    elif how == "huge":  # hundreds of KB in a field
        key = target[_index(draw, target)][0] if target else "x"
        target.append((key, "é" * draw(st.integers(20_001, 400_000))))
    text = _encode(env, ascii_only)
    if how == "lone_surrogate":
        text = text.replace('"', '"\\ud83d', 2) if draw(st.booleans()) else text + '"\\udc00"'
    raw = text.encode()
    if how == "truncate":
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif how == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([draw(st.integers(0, 255))]) + raw[i + 1 :]
    elif how == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif how == "tail":
        raw += draw(_TAIL)
    elif how == "top_level":
        raw = _encode(draw(_TOP_LEVEL), ascii_only).encode()
    elif how == "deep":
        n = draw(_DEPTH)
        raw = b"[" * n + b"]" * n if draw(st.booleans()) else b'{"a":' * n + b"1" + b"}" * n
    elif how == "bytes":
        raw = draw(st.binary(max_size=300))
    elif how == "utf8":
        i = draw(st.integers(0, len(raw)))
        raw = raw[:i] + draw(_BAD_UTF8) + raw[i:]
    elif how == "empty":
        return None if draw(st.booleans()) else b""
    return raw


def _message_bytes(draw: st.DrawFn, c: Context, broken_in_10: int) -> bytes | None:
    env = _envelope(draw, c)
    ascii_only = draw(st.booleans())  # True: non-ASCII as \\u escapes (surrogate pairs)
    if draw(st.integers(0, 9)) < broken_in_10:
        return _broken(draw, env, ascii_only)
    if draw(st.booleans()):
        _duplicate(draw, env, junk_wins=False)
    text = _encode(env, ascii_only)
    return (text if draw(st.booleans()) else f"\n {text} \t").encode()


@dataclass(frozen=True)
class Input:
    received: datetime
    messages: list[RawMessage]

    def describe(self) -> str:
        """For the failure report (Hypothesis does not print composite draws here)."""
        lines = [f"received at {self.received.isoformat()}"]
        for m in self.messages:
            v = m.value
            shown = repr(v) if v is None or len(v) <= 600 else f"{v[:600]!r}... ({len(v)} bytes)"
            lines.append(f"p{m.partition}@{m.offset}: {shown}")
        return "\n".join(lines)


_KAFKA_KEY = st.one_of(st.none(), st.binary(max_size=40), st.just(b"k" * 5_000))


@st.composite
def _inputs(
    draw: st.DrawFn, min_messages: int, max_messages: int, *, broken_in_10: int, far: bool
) -> Input:
    """Messages on up to three partitions, all received at one time; ``broken_in_10``:
    how many in ten are broken; ``far``: some event times at the ``max_past`` bound."""
    received = draw(_RECEIVED)
    rnd = random.Random(draw(st.integers(0, 2**32)))
    c = Context(received, rnd, draw(_FOCUS), _FAR_OFFSET if far else _NEAR_OFFSET)
    offsets: dict[int, int] = {}
    messages = []
    for _ in range(draw(st.integers(min_messages, max_messages))):
        value = _message_bytes(draw, c, broken_in_10)
        p = draw(st.integers(0, 2))
        offsets[p] = offsets.get(p, -1) + 1
        messages.append(RawMessage(TOPIC, p, offsets[p], draw(_KAFKA_KEY), value))
    return Input(received, messages)


# ---- property A: decode ----------------------------------------------------------------


_DECODE_REASONS = {"invalid_utf8", "invalid_json", "unknown_event_type", "validation_error"}


def _check_letter(d: DeadLetter) -> None:
    row = DEAD_LETTERS.to_row(d)
    row_json(DEAD_LETTERS.columns, row)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    _inputs(1, 8, broken_in_10=5, far=True),
    st.sampled_from([0, 1, 100, DEFAULT_DLQ_MAX_RAW_BYTES]),
    st.sampled_from([None, MAX_FUTURE]),
    st.sampled_from([None, MAX_PAST]),
)
def test_decode_turns_every_message_into_one_bounded_outcome(
    inp: Input, cap: int, max_future: timedelta | None, max_past: timedelta | None
) -> None:
    note(inp.describe())
    for msg in inp.messages:
        out = decode(msg, inp.received, max_future, max_past=max_past, raw_cap=cap)
        value = msg.value or b""
        if isinstance(out, Accepted):
            e = out.event
            assert OCCURRED_AT_MIN <= e.occurred_at <= OCCURRED_AT_MAX
            assert (out.partition, out.offset, out.ingested_at) == (
                msg.partition,
                msg.offset,
                inp.received,
            )
            assert out.late_bound_ms is None
            if max_future is not None:
                assert e.occurred_at - inp.received <= max_future
            if max_past is not None:
                assert inp.received - e.occurred_at <= max_past
            entity_key(e)
            EVENTS.to_row(out)
        else:
            assert isinstance(out, DeadLetter), out
            assert out.reason in _DECODE_REASONS, out
            assert len(out.raw) <= cap
            assert out.raw == value[:cap]
            assert out.raw_size == len(value)
            assert out.raw_sha256 == hashlib.sha256(value).hexdigest()
            assert len(out.error) <= MAX_DLQ_ERROR_CHARS
            assert out.key is None or len(out.key) <= MAX_DLQ_KEY_BYTES
            assert (out.topic, out.partition, out.offset, out.flow) == (
                TOPIC,
                msg.partition,
                msg.offset,
                "",
            )
            _check_letter(out)


# ---- property B: every flow's logic ----------------------------------------------------------


_SINKS: dict[type, TableSpec[Any]] = {
    Accepted: EVENTS,
    AgentWindow: AGENT_PERFORMANCE,
    LateEvent: LATE_EVENTS,
    Alert: ALERTS,
    ClientRisk: CLIENT_RISK,
    OpsSnapshot: OPS_SNAPSHOTS,
    QueueRow: OPS_QUEUE_SNAPSHOTS,
    AgentBoardRow: OPS_AGENT_BOARD,
    DemandHourly: DEMAND_HOURLY,
    ForecastSnapshot: DEMAND_FORECAST,
    BacktestRow: DEMAND_BACKTEST,
    KbSuggestion: KB_SUGGESTIONS,
    DeadLetter: DEAD_LETTERS,
    RoutingRecommendation: ROUTING_RECOMMENDATIONS,
    RoutingDecision: ROUTING_DECISIONS,
    Erasure: ERASURES,
}


def _store(item: Any) -> None:
    """What a sink does with a row before writing it: build the row (and its JSON, kept
    when the table refuses it). Every instant in it must be one ClickHouse stores."""
    spec = _SINKS[type(item)]
    row = spec.to_row(item)
    row_json(spec.columns, row)
    instants = [v for v in row if isinstance(v, datetime)]
    if isinstance(item, ForecastSnapshot) and item.predicted:
        instants.append(item.target_start(len(item.predicted) - 1))
    for v in instants:
        assert STORABLE_MIN <= v <= STORABLE_MAX, (type(item).__name__, v, item)


@dataclass
class Stage:
    """The instances of one stateful step, one per key, as Bytewax keeps them."""

    name: str
    make: Callable[[bytes | None], Any]
    outputs: tuple[type, ...]
    logics: dict[str, Any] = field(default_factory=dict)
    inbox: dict[str, list[Any]] = field(default_factory=dict)

    def push(self, key: str, item: Any) -> None:
        logic = self.logics.get(key)
        if logic is None:
            logic = self.logics[key] = self.make(None)
        if isinstance(logic, EventTimeLogic) and not isinstance(item, Tick):
            # what the base does with an item the logic fails on must not fail itself
            logic.tenant_of(item)
            o = logic.origin_of(item)
            letter = make_dead_letter(
                topic=TOPIC,
                partition=o.partition,
                offset=o.offset,
                key=o.key,
                raw=o.raw,
                reason="processing_error",
                error="probe",
                received_at=T0,
                flow=logic.flow,
            )
            _store(letter)
            if logic.hold:
                logic.order_of(item)  # must not fail either
        self.inbox.setdefault(key, []).append(item)


class Pipeline:
    """The dataflow of ``flows/pipeline.py`` run synchronously, step by step."""

    def __init__(self, cfg: FlowConfig) -> None:
        self.cfg = cfg
        self.shards = [str(i) for i in range(cfg.shards)]
        self.clocks: dict[int, PartitionClock] = {}
        self.lateness_ms = int(cfg.allowed_lateness_s * 1000)
        self.tenant_clocks = TenantClocks(self.lateness_ms)
        self.letters: list[DeadLetter] = []
        self.counts: dict[str, int] = {}
        self.kinds: set[str] = set()  # of the alerts raised
        self.rows: list[Any] = []  # what the sinks got (events and coaching alerts aside)

        def stage(name: str, logic: type, *outputs: type) -> Stage:
            return Stage(name, partial(logic, cfg), (*outputs, DeadLetter))

        self.dedup = stage("dedup", DedupLogic, Accepted)
        self.ticket_facts = stage("ticket_facts", TicketFactsLogic, AgentFact)
        self.agent_windows = stage("agent_windows", AgentWindowLogic, AgentWindow, LateEvent)
        self.ticket_risk = stage("ticket_risk", TicketRiskLogic, Alert, RiskSignal, Tick)
        self.client_risk = stage("client_risk", ClientRiskLogic, ClientRisk, Alert)
        self.complaint_alerts = stage("complaint_alerts", ComplaintAlertLogic, Alert)
        self.live_ops = stage("live_ops", LiveOpsLogic, OpsSnapshot, AgentBoardRow)
        kinds = (DemandHourly, ForecastSnapshot, BacktestRow, Alert)
        self.demand = stage("demand", DemandLogic, *kinds)
        self.kb_texts = stage("kb_texts", TicketTextsLogic, KbItem)
        self.kb_clusters = stage("kb_clusters", KbClustersLogic, KbSuggestion, Alert)
        self.stages = [
            self.dedup,
            self.ticket_facts,
            self.agent_windows,
            self.ticket_risk,
            self.client_risk,
            self.complaint_alerts,
            self.live_ops,
            self.demand,
            self.kb_texts,
            self.kb_clusters,
        ]

    # -- input: the clock --------------------------------------------------------------

    def feed(self, batch: list[Accepted]) -> None:
        """One source batch: each partition's clock stamps its events, progress folds into
        per-tenant ticks; stamped events go to dedup, ticks to every step that takes them."""
        now_ms = to_ms(self.cfg.now())
        ticks: list[Tick] = []
        for p in sorted({a.partition for a in batch}):
            clock = self.clocks.setdefault(p, PartitionClock(self.lateness_ms, p))
            stamped, progress = clock.judge([a for a in batch if a.partition == p], now_ms)
            for a in stamped:
                partition_key(a)
                self.dedup.push(ticket_key(self.cfg.shards, a), a)
            ticks.extend(self.tenant_clocks.observe(progress, now_ms))
        self.broadcast(ticks)

    def broadcast(self, ticks: list[Tick]) -> None:
        for t in ticks:
            for key, tick in to_shards(self.cfg.shards, t):
                self.agent_windows.push(key, tick)
                self.ticket_risk.push(key, tick)
                self.complaint_alerts.push(key, tick)
            key, tick = to_tenant(t)
            for s in (self.live_ops, self.demand, self.kb_clusters):
                s.push(key, tick)

    # -- routing, as the wiring does it --------------------------------------------------

    def route(self, stage: Stage, key: str, outputs: Iterable[Any]) -> None:
        for item in outputs:
            assert isinstance(item, stage.outputs), (stage.name, item)
            self.counts[type(item).__name__] = self.counts.get(type(item).__name__, 0) + 1
            if isinstance(item, DeadLetter):
                self.letters.append(item)
                self.store(item)
            elif stage is self.dedup:
                self.event(item)
            elif isinstance(item, AgentFact):
                self.agent_windows.push(agent_shard(self.cfg.shards, item), item)
            elif isinstance(item, RiskSignal):
                signal_order(item)
                self.client_risk.push(client_key(self.cfg.shards, item), item)
            elif isinstance(item, Tick):  # forwarded by a ticket-risk shard
                for k, t in to_shards(self.cfg.shards, sourced((key, item))):
                    self.client_risk.push(k, t)
            elif isinstance(item, KbItem):
                self.kb_clusters.push(item_tenant(item), item)
            elif isinstance(item, OpsSnapshot):
                self.store(item)
                for row in queue_rows(item):
                    self.store(row)
            else:
                if isinstance(item, Alert):
                    self.kinds.add(item.kind)
                self.store(item)

    def store(self, row: Any) -> None:
        _store(row)
        self.rows.append(row)

    def event(self, a: Accepted) -> None:
        """A unique event fans out to every flow (and through their stateless functions)."""
        cfg, e = self.cfg, a.event
        _store(a)
        entity_key(e)
        event_origin(a)
        event_order(a)
        event_tenant(a)
        coaching_alert(e, cfg.now())
        demand_segments(e)
        signals_from_event(e, {})
        if of_types(AGENT_EVENT_TYPES, a):
            alert = _coaching(cfg, a)
            if alert is not None:
                _store(alert)
            self.ticket_facts.push(ticket_shard(cfg.shards, a), a)
        if of_types(TICKET_TYPES, a):
            self.ticket_risk.push(ticket_key(cfg.shards, a), a)
        if of_types(CLIENT_TYPES, a):
            for s in direct_signals(a):
                signal_order(s)
                self.client_risk.push(client_key(cfg.shards, s), s)
        if of_types(COMPLAINT_TYPES, a):
            self.complaint_alerts.push(complaint_key(cfg.shards, a), a)
        if of_types(LIVE_OPS_EVENT_TYPES, a):
            self.live_ops.push(event_tenant(a), a)
        if of_types(DEMAND_EVENT_TYPES, a):
            self.demand.push(event_tenant(a), a)
        if of_types(TICKET_TEXT_TYPES, a):
            self.kb_texts.push(ticket_key(cfg.shards, a), a)
        if of_types(ARTICLE_TYPES, a):
            item = article_item(a)
            self.kb_clusters.push(item_tenant(item), item)

    # -- Bytewax's calls -------------------------------------------------------------------

    def drain(self) -> None:
        """Every step runs its pending batch, upstream first."""
        for s in self.stages:
            inbox, s.inbox = s.inbox, {}
            for key in sorted(inbox):
                out, discard = s.logics[key].on_batch(inbox[key])
                assert discard is False
                self.route(s, key, out)

    def close_epoch(self, restore: bool) -> None:
        """Snapshots (ticks of the epoch become applicable), optionally a pickle round trip
        (a restart from this snapshot), then the steps' timers."""
        for s in self.stages:
            for key, logic in list(s.logics.items()):
                saved = logic.snapshot()
                if restore:
                    s.logics[key] = s.make(saved)
        for s in self.stages:
            for key in sorted(s.logics):
                logic = s.logics[key]
                if isinstance(logic, EventTimeLogic):
                    logic.notify_at()
                    out, discard = logic.on_notify()
                    assert discard is False
                    self.route(s, key, out)
        self.drain()

    def end(self) -> None:
        """End of input: the clock's final ticks, then each step's end, upstream first."""
        self.broadcast(self.tenant_clocks.final())
        for s in self.stages:
            inbox, s.inbox = s.inbox, {}
            for key in sorted(inbox):
                self.route(s, key, s.logics[key].on_batch(inbox[key])[0])
            for key in sorted(s.logics):
                logic = s.logics[key]
                if isinstance(logic, EventTimeLogic):
                    out, _ = logic.on_eof()
                    self.route(s, key, out)


@dataclass(frozen=True)
class Schedule:
    shards: int
    lateness_s: float
    provisional: bool
    sla_hours: float | None  # every priority of tenant t1 (None: the default policy)
    cuts: list[int]  # source batch sizes
    epochs: list[bool]  # close an epoch after batch i?
    restore_at: int  # the epoch close that restarts every step from its snapshot


@st.composite
def _schedules(draw: st.DrawFn) -> Schedule:
    return Schedule(
        shards=draw(st.integers(1, 3)),
        lateness_s=draw(st.sampled_from([0.0, 1.0, 60.0])),
        provisional=draw(st.booleans()),
        sla_hours=draw(st.sampled_from([None, 0.001, 0.5, MAX_SLA_HOURS])),
        cuts=draw(st.lists(st.integers(1, 8), min_size=1, max_size=12)),
        epochs=draw(st.lists(st.booleans(), min_size=12, max_size=12)),
        restore_at=draw(st.integers(0, 12)),
    )


def _config(sched: Schedule, now: datetime) -> FlowConfig:
    sla = SlaPolicy()
    if sched.sla_hours is not None:
        sla = SlaPolicy(tenant_overrides={"t1": dict.fromkeys(PRIORITIES, sched.sla_hours)})
    return FlowConfig(
        shards=sched.shards,
        allowed_lateness_s=sched.lateness_s,
        provisional=sched.provisional,
        sla_policy=sla,
        events_topic=TOPIC,
        now=lambda: now,
    )


def _run(inp: Input, sched: Schedule) -> Pipeline:
    """Decode as ingest does (wall time = the receive time), then the whole dataflow."""
    cfg = _config(sched, inp.received)
    accepted = [a for a in _decode_batch_now(cfg, list(inp.messages)) if isinstance(a, Accepted)]
    pipe = Pipeline(cfg)
    closes = i = 0
    for n, close in zip(sched.cuts, sched.epochs, strict=False):
        pipe.feed(accepted[i : i + n])
        i += n
        pipe.drain()
        if close:
            pipe.close_epoch(restore=closes == sched.restore_at)
            closes += 1
    if i < len(accepted):
        pipe.feed(accepted[i:])
        pipe.drain()
        pipe.close_epoch(restore=closes == sched.restore_at)
    pipe.end()
    return pipe


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_inputs(5, 30, broken_in_10=1, far=False), _schedules())
def test_no_message_makes_any_flow_fail(inp: Input, sched: Schedule) -> None:
    note(inp.describe())
    pipe = _run(inp, sched)
    for kind in sorted(pipe.counts):  # what the run reached (--hypothesis-show-statistics)
        event(f"emitted {kind}")
    for kind in sorted(pipe.kinds):
        event(f"alert {kind}")
    failures = [f"{d.flow}: {d.error}" for d in pipe.letters if d.reason == "processing_error"]
    assert not failures, failures


# ---- property C: the real dataflow -------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    _inputs(1, 20, broken_in_10=3, far=False),
    st.integers(1, 3),
    st.integers(1, 10),
    st.sampled_from([0, 1, 5]),
    st.booleans(),
)
def test_the_dataflow_stores_or_dead_letters_every_message(
    inp: Input, shards: int, batch_size: int, epoch_ms: int, provisional: bool
) -> None:
    """``build_flow`` run by Bytewax: it ends normally, each message is a stored event (or
    a repeat of one) or an ingest dead letter, and no step dead-letters a processing
    error. Event times of any era are allowed (no bounds relative to wall time)."""
    note(inp.describe())
    cfg = FlowConfig(
        shards=shards,
        provisional=provisional,
        idle_advance=False,
        max_future_s=None,
        max_past_s=None,
        events_topic=TOPIC,
    )
    io = MemoryIO(inp.messages, batch_size)
    run_main(build_flow(cfg, io), epoch_interval=timedelta(milliseconds=epoch_ms))
    letters: list[DeadLetter] = io.out["dead_letters"]
    assert [d for d in letters if d.flow] == []
    rejected = {(d.partition, d.offset) for d in letters}
    stored = [(a.partition, a.offset) for a in io.out["events"]]
    assert len(stored) == len(set(stored))
    assert not rejected & set(stored)
    ids = {(a.event.tenant_id, a.event.event_id) for a in io.out["events"]}
    for m in inp.messages:
        if (m.partition, m.offset) in rejected or (m.partition, m.offset) in stored:
            continue
        out = decode(m, inp.received)  # accepted, not stored: a repeat of a stored event
        assert isinstance(out, Accepted), m
        assert (out.event.tenant_id, out.event.event_id) in ids, m
    for name, rows in io.out.items():
        if name not in ("alerts_topic", "dlq_topic"):
            for row in rows:
                _store(row)


# ---- regressions ------------------------------------------------------------------------


def test_times_derived_from_the_last_accepted_instant_are_storable() -> None:
    """Found by property B: ``ticket.assigned`` at 2299-12-31T23:59:59Z was accepted and
    its 1-day window ended 2300-01-01, past what ClickHouse stores; two ``ticket.created``
    there gave a demand forecast generated at 2300-01-01 for the two weeks after. Event
    times now end a year before (``DERIVED_TIME_MARGIN``)."""
    last = OCCURRED_AT_MAX
    docs = [
        envelope("ticket.created", occurred_at=last - timedelta(hours=3)),
        envelope("service.requested", occurred_at=last - timedelta(hours=3)),
        envelope("session.queued", occurred_at=last - timedelta(hours=3)),
        envelope("ticket.assigned", occurred_at=last - timedelta(hours=2)),
        envelope("csat.received", occurred_at=last - timedelta(minutes=1)),
        envelope("agent.status_changed", occurred_at=last),
    ]
    late = envelope("ticket.resolved", occurred_at=last + MS)
    messages = [RawMessage(TOPIC, 0, i, None, to_bytes(d)) for i, d in enumerate([*docs, late])]
    sched = Schedule(1, 60.0, True, 0.001, [2, 2, 3], [True, False, True], restore_at=1)
    pipe = _run(Input(last, messages), sched)  # _store checks every row

    assert {"AgentWindow", "ForecastSnapshot", "OpsSnapshot", "ClientRisk"} <= set(pipe.counts)
    assert "sla_breach" in pipe.kinds
    ends = [r.window_end for r in pipe.rows if isinstance(r, AgentWindow)]
    assert max(ends) == datetime(2299, 1, 1, tzinfo=UTC)  # the last day, storable
    forecasts = [r for r in pipe.rows if isinstance(r, ForecastSnapshot)]
    assert max(f.target_start(len(f.predicted) - 1) for f in forecasts) < STORABLE_MAX
    assert not pipe.letters
    rejected = decode(messages[-1], last)
    assert isinstance(rejected, DeadLetter)
    assert "2298-12-31T23:59:59.999Z" in rejected.error


def test_an_old_event_sent_twice_more_does_not_stop_a_step() -> None:
    """Found by property B. A session event is sent, its tenant moves on two hours (dedup
    forgets the id after one), then the first message arrives twice more: both copies are
    late with the same bound and the same id, both are held by live_ops. The heap used to
    compare the two ``Accepted`` (TypeError: the whole dataflow stopped, on every
    restart); ties now break on the arrival number."""
    first = to_bytes(envelope("session.queued", occurred_at=T0))
    later = to_bytes(envelope("agent.status_changed", occurred_at=T0 + timedelta(hours=2)))
    messages = [
        RawMessage(TOPIC, 0, i, None, v) for i, v in enumerate([first, later, first, first])
    ]
    sched = Schedule(1, 60.0, False, None, [2, 1, 1], [True, True, True], restore_at=99)
    pipe = _run(Input(T0 + timedelta(hours=2), messages), sched)
    assert not [d for d in pipe.letters if d.reason == "processing_error"]
