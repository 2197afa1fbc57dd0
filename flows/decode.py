"""Bytes from Kafka -> a validated event, or a dead letter that says why.

Never raises on input: every message ends as exactly one of the two.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import ValidationError

from schemas.events import parse_event
from schemas.ids import stable_id
from schemas.results import DeadLetter, RejectReason
from schemas.transport import Accepted, RawMessage

_MAX_ERROR_CHARS = 2000


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


def decode(
    msg: RawMessage, received_at: datetime, max_future: timedelta | None = None
) -> Accepted | DeadLetter:
    """Validate one message; rejections carry the reason and the exact bytes.

    ``max_future``: an event stamped further than this ahead of ``received_at`` is
    rejected. One event from a producer with a wrong clock would otherwise drag
    event time (watermarks, dedup and ticket retention horizons) into the future.
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
            ahead = event.occurred_at - received_at
            if max_future is None or ahead <= max_future:
                return Accepted(event, msg.partition, msg.offset, received_at)
            reason = "validation_error"
            error = (
                f"occurred_at: {event.occurred_at.isoformat()} is {ahead} ahead of the "
                f"time it was received (limit {max_future}); check the producer's clock"
            )
    if not raw:
        reason, error = "invalid_json", "empty message"
    return DeadLetter(
        letter_id=stable_id("dlq", msg.topic, msg.partition, msg.offset),
        received_at=received_at,
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        reason=reason,
        error=error,
        raw=raw,
        key=msg.key,
    )
