"""Validation of JSON-lines input for ``cxpulse emit``: good lines keyed, bad lines explained."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from flows.ingest.decode import describe_rejection
from schemas.events import entity_key, parse_event


@dataclass(frozen=True)
class GoodLine:
    number: int
    key: bytes
    value: bytes
    tenant: str  # names the input topic with CXPULSE_TENANT_TOPICS


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str


def check_lines(lines: Iterable[bytes]) -> Iterator[GoodLine | BadLine]:
    """Each non-blank line is one event; blank lines are skipped (not errors)."""
    for number, line in enumerate(lines, start=1):
        raw = line.strip()
        if not raw:
            continue
        try:
            raw.decode("utf-8")
            event = parse_event(raw)
        except UnicodeDecodeError as exc:
            yield BadLine(number, f"not UTF-8: {exc}")
        except ValidationError as exc:
            reason, detail = describe_rejection(exc)
            yield BadLine(number, f"{reason}: {detail}")
        else:
            yield GoodLine(number, entity_key(event).encode(), raw, event.tenant_id)
