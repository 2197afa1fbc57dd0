"""Batched, idempotent ClickHouse writes as a Bytewax sink.

One insert per Bytewax batch, synchronously: when ``write_batch`` returns the rows are
stored, so a snapshot taken after it never covers unwritten rows. Tables are
Replacing*MergeTree on deterministic ids, so the rows a resume replays rewrite
themselves instead of duplicating.

Each stored batch is counted (``cxpulse_rows_written_total``, ``cxpulse_sink_batch_rows``,
``cxpulse_sink_batch_seconds``, labelled by table); ``on_written`` sees every stored
batch, for per-item metrics such as dead letters by reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from clickhouse_connect.driver.client import Client

from sinks.metrics import ROWS_WRITTEN, SINK_BATCH_ROWS, SINK_BATCH_SECONDS
from sinks.tables import TableSpec

T = TypeVar("T")
log = logging.getLogger(__name__)

ClientFactory = Callable[[], Client]
OnWritten = Callable[[list[T]], None]


class ClickHouseWriter(Generic[T]):
    """Inserts batches into one table, retrying transient failures before giving up."""

    def __init__(
        self,
        open_client: ClientFactory,
        spec: TableSpec[T],
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        on_written: OnWritten[T] | None = None,
    ) -> None:
        self._open_client = open_client
        self._spec = spec
        self._on_written = on_written
        table = spec.table
        self._rows_written = ROWS_WRITTEN.labels(table)
        self._batch_rows = SINK_BATCH_ROWS.labels(table)
        self._batch_seconds = SINK_BATCH_SECONDS.labels(table)
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._client: Client | None = None
        self.rows_written = 0
        self.progress_every_s: float | None = None  # log throughput this often (None: never)
        self._reported_at = time.monotonic()
        self._reported_rows = 0

    def setup(self) -> None:
        if self._client is None:
            self._client = self._open_client()

    def write_batch(self, items: list[T]) -> None:
        if not items:
            return
        started = time.perf_counter()
        self.setup()
        assert self._client is not None
        rows = [self._spec.to_row(i) for i in items]
        for attempt in range(1, self._attempts + 1):
            try:
                self._client.insert(self._spec.table, rows, column_names=self._spec.columns)
                break
            except Exception as exc:
                if attempt == self._attempts:
                    raise RuntimeError(
                        f"insert of {len(rows)} rows into {self._spec.table} failed "
                        f"{attempt} times: {exc}"
                    ) from exc
                log.warning(
                    "insert into %s failed (attempt %d): %s; retrying",
                    self._spec.table,
                    attempt,
                    exc,
                )
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
        # seconds include conversion and retries: what the flow waited for this batch
        self._batch_seconds.observe(time.perf_counter() - started)
        self._batch_rows.observe(len(rows))
        self._rows_written.inc(len(rows))
        self.rows_written += len(rows)
        if self._on_written is not None:
            self._on_written(items)
        self._report()

    def _report(self) -> None:
        """Progress for long replays: rows written so far and the recent rate."""
        if self.progress_every_s is None:
            return
        now = time.monotonic()
        elapsed = now - self._reported_at
        if elapsed >= self.progress_every_s:
            rate = (self.rows_written - self._reported_rows) / elapsed
            log.info("%s: %d rows written (%.0f rows/s)", self._spec.table, self.rows_written, rate)
            self._reported_at, self._reported_rows = now, self.rows_written

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class _Partition(StatelessSinkPartition[Any]):
    def __init__(self, writer: ClickHouseWriter[Any]) -> None:
        self._writer = writer

    def write_batch(self, items: list[Any]) -> None:
        self._writer.write_batch(items)

    def close(self) -> None:
        self._writer.close()


class ClickHouseSink(DynamicSink[T]):
    """One writer per worker; the client opens in ``build`` (never at construction)."""

    def __init__(
        self,
        open_client: ClientFactory,
        spec: TableSpec[T],
        progress_every_s: float | None = None,
        on_written: OnWritten[T] | None = None,
    ) -> None:
        self._open_client = open_client
        self._spec = spec
        self._progress_every_s = progress_every_s
        self._on_written = on_written

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        writer: ClickHouseWriter[T] = ClickHouseWriter(
            self._open_client, self._spec, on_written=self._on_written
        )
        writer.progress_every_s = self._progress_every_s
        writer.setup()
        return _Partition(writer)
