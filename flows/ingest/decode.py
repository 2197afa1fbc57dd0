"""Bytes from Kafka -> a validated event, or a dead letter that says why.

Never raises on input: every message ends as exactly one of the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, parse_event
from schemas.results import (
    DEFAULT_DLQ_MAX_RAW_BYTES,
    MAX_DLQ_ERROR_CHARS,
    DeadLetter,
    RejectReason,
    make_dead_letter,
)
from schemas.transport import Accepted, RawMessage

_MAX_ERROR_CHARS = MAX_DLQ_ERROR_CHARS


def describe_rejection(exc: ValidationError) -> tuple[RejectReason, str]:
    errors = exc.errors(include_url=False, include_input=False)
    kinds = {e["type"] for e in errors}
    if "json_invalid" in kinds:
        reason: RejectReason = "invalid_json"
    elif kinds & {"union_tag_invalid", "union_tag_not_found"}:
        reason = "unknown_event_type"
    else:
        reason = "validation_error"
    parts = []
    for e in errors:
        loc = ".".join(str(p) for p in e["loc"][1:] if p != "") or "(message)"
        parts.append(f"{loc}: {e['msg']}")
    return reason, "; ".join(parts)[:_MAX_ERROR_CHARS]


def _time_error(
    occurred_at: datetime,
    received_at: datetime,
    max_future: timedelta | None,
    max_past: timedelta | None,
) -> str | None:
    """Why an event's time is unusable relative to its arrival, or None if it is fine.

    The envelope already bounds ``occurred_at`` to what ClickHouse stores, so the
    subtraction cannot overflow.
    """
    ahead = occurred_at - received_at
    if max_future is not None and ahead > max_future:
        return (
            f"occurred_at: {occurred_at.isoformat()} is {ahead} ahead of the "
            f"time it was received (limit {max_future}); check the producer's clock"
        )
    if max_past is not None and -ahead > max_past:
        return (
            f"occurred_at: {occurred_at.isoformat()} is {-ahead} before the time it was "
            f"received (limit {max_past}, CXPULSE_MAX_PAST_S); too old to be counted"
        )
    return None


# tenant topics: the tenant a topic speaks for (None: no tenant's), see schemas.tenant_topics
TopicTenant = Callable[[str], str | None]


def _tenant_error(tenant_id: str, topic: str, topic_tenant: TopicTenant | None) -> str | None:
    """Why an event may not come from ``topic``: its producer may only write its tenant's."""
    if topic_tenant is None:
        return None
    owner = topic_tenant(topic)
    if owner == tenant_id:
        return None
    return f"tenant_id: {tenant_id!r} is not the tenant of topic {topic!r} ({owner!r})"


def decode(
    msg: RawMessage,
    received_at: datetime,
    max_future: timedelta | None = None,
    *,
    max_past: timedelta | None = None,
    raw_cap: int = DEFAULT_DLQ_MAX_RAW_BYTES,
    topic_tenant: TopicTenant | None = None,
) -> Accepted | DeadLetter:
    """Validate one message; rejections carry the reason and the first ``raw_cap`` bytes.

    ``max_future``: an event stamped further than this ahead of ``received_at`` is
    rejected. One event from a producer with a wrong clock would otherwise drag
    event time (watermarks, dedup and ticket retention horizons) into the future.
    ``max_past``: an event stamped further than this before ``received_at`` is rejected;
    it would open state (windows, hours, tickets) far behind everything else.
    ``raw_cap``: bytes a dead letter keeps (it records the full size and sha256), so
    that a message of any size fits the dead-letter topic and table.
    ``topic_tenant``: with tenant topics, an event whose ``tenant_id`` is not its
    topic's tenant is rejected (``tenant_mismatch``).
    """
    raw = msg.value or b""
    reason: RejectReason
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason, error = "invalid_utf8", f"not UTF-8: {exc}"
    else:
        try:
            event = parse_event(raw)
        except ValidationError as exc:
            reason, error = describe_rejection(exc)
        else:
            mismatch = _tenant_error(event.tenant_id, msg.topic, topic_tenant)
            problem = _time_error(event.occurred_at, received_at, max_future, max_past)
            if mismatch is not None:
                reason, error = "tenant_mismatch", mismatch
            elif problem is None:
                return Accepted(event, msg.partition, msg.offset, received_at)
            else:
                reason, error = "validation_error", problem
    if not raw:
        reason, error = "invalid_json", "empty message"
    return make_dead_letter(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        raw=raw,
        reason=reason,
        error=error,
        received_at=received_at,
        cap=raw_cap,
    )


def _bound(at: datetime, by: timedelta | None, *, after: bool) -> datetime | None:
    """``at`` plus (``after``) or minus ``by``, in UTC; None when there is no bound (no
    limit, or one beyond what a datetime holds, which no event time can cross)."""
    if by is None:
        return None
    try:
        utc = at.astimezone(UTC)
        return utc + by if after else utc - by
    except OverflowError:
        return None


def decode_batch(
    msgs: Iterable[RawMessage],
    received_at: datetime,
    max_future: timedelta | None = None,
    *,
    max_past: timedelta | None = None,
    raw_cap: int = DEFAULT_DLQ_MAX_RAW_BYTES,
    topic_tenant: TopicTenant | None = None,
) -> list[Accepted | DeadLetter]:
    """:func:`decode` of every message of a poll, in order, received at one instant.

    The hot path: the time limits become two instants once per batch and a valid event
    is checked against them by comparison. Anything not accepted there goes through
    :func:`decode` itself, so a dead letter's reason and error are exactly its own.
    (A ``TypeAdapter`` over the whole batch measured no faster than one call per message.)
    """
    latest = _bound(received_at, max_future, after=True)
    earliest = _bound(received_at, max_past, after=False)
    parse = EVENT_ADAPTER.validate_json
    out: list[Accepted | DeadLetter] = []
    for msg in msgs:
        raw = msg.value
        if raw:
            try:
                raw.decode("utf-8")
                event = parse(raw)
            except (UnicodeDecodeError, ValidationError):
                pass
            else:
                at = event.occurred_at
                if (
                    (latest is None or at <= latest)
                    and (earliest is None or at >= earliest)
                    and (topic_tenant is None or topic_tenant(msg.topic) == event.tenant_id)
                ):
                    out.append(Accepted(event, msg.partition, msg.offset, received_at))
                    continue
        out.append(
            decode(
                msg,
                received_at,
                max_future,
                max_past=max_past,
                raw_cap=raw_cap,
                topic_tenant=topic_tenant,
            )
        )
    return out
