"""What the ClickHouse and Kafka sinks share: one writer per Bytewax worker, and the
dead letter of an item a sink refuses.

A writer is a plain object (``setup`` / ``write_batch`` / ``close``) that tests drive
without Bytewax; :class:`WriterSink` only opens one per worker in ``build`` (never at
construction, so nothing connects before the flow runs) and hands it the batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from schemas.results import DeadLetter, make_dead_letter, synthetic_offset

T = TypeVar("T")
R = TypeVar("R")


class BatchWriter(Protocol[T]):
    """Writes batches to one destination; ``setup`` opens its connection (idempotent)."""

    def setup(self) -> None: ...

    def write_batch(self, items: list[T]) -> None: ...

    def close(self) -> None: ...


class WriterPartition(StatelessSinkPartition[Any]):
    """A worker's sink partition: every batch straight to its writer."""

    def __init__(self, writer: BatchWriter[Any]) -> None:
        self._writer = writer

    def write_batch(self, items: list[Any]) -> None:
        self._writer.write_batch(items)

    def close(self) -> None:
        self._writer.close()


class WriterSink(DynamicSink[T]):
    """One writer per worker from ``make_writer``, set up in ``build``."""

    def __init__(self, make_writer: Callable[[], BatchWriter[T]]) -> None:
        self._make_writer = make_writer

    def build(self, step_id: str, worker_index: int, worker_count: int) -> WriterPartition:
        writer = self._make_writer()
        writer.setup()
        return WriterPartition(writer)


def convert_each(
    items: Iterable[T], convert: Callable[[T], R], refuse: Callable[[T, Exception], DeadLetter]
) -> tuple[list[tuple[T, R]], list[DeadLetter]]:
    """Each item with what ``convert`` makes of it for the destination (a row, a
    message); an item the conversion raises on (a bug for that item) becomes the dead
    letter ``refuse`` makes of it instead of failing the whole batch."""
    converted: list[tuple[T, R]] = []
    letters: list[DeadLetter] = []
    for item in items:
        try:
            converted.append((item, convert(item)))
        except Exception as exc:
            letters.append(refuse(item, exc))
    return converted, letters


def sink_flow(label: str) -> str:
    """The ``flow`` of the dead letters a sink writes: ``sink:<label>``."""
    return f"sink:{label}"


def sink_error_letter(
    source: str,
    ident: object,
    *,
    key: bytes | None,
    raw: bytes,
    error: str,
    received_at: datetime,
    flow: str,
    cap: int,
) -> DeadLetter:
    """The dead letter (reason ``sink_error``) of an item the sink refused on its way to
    ``source`` (a table or topic); ``flow`` is the sink's :func:`sink_flow`.

    Keyed by ``ident`` (a stable name of the item), so a replay rewrites the same letter.
    """
    return make_dead_letter(
        topic=source,
        partition=-1,
        offset=synthetic_offset(source, ident),
        key=key,
        raw=raw,
        reason="sink_error",
        error=error,
        received_at=received_at,
        flow=flow,
        cap=cap,
    )
