"""Batched, idempotent ClickHouse writes: the storage writer's inserts.

One insert per batch, synchronously: when ``write_columns`` returns the rows are
stored, so the storage writer commits its input offsets only after it. Tables are
Replacing*MergeTree on deterministic ids, so the rows a resume replays rewrite
themselves instead of duplicating.

The insert is column-oriented: the batch becomes one list per column
(:meth:`TableSpec.column_lists`, a ``map`` per column), which the driver encodes as it
is, instead of a tuple per row that the driver pivots back into columns (the largest
single cost of a row-oriented insert, see bench/storage.py).

No single row can stop the run. A failed insert is retried with backoff only when the
error is transient (connection, timeout, overload); otherwise the batch is bisected
until the rows the table refuses are alone, and each of those becomes a dead letter
(reason ``sink_error``, flow ``sink:<table>``) in ``dead_letters``, written through the
same client. If even that fails, the letter is logged at ERROR and counted in
``cxpulse_dead_letters_unstored_total``; the run carries on. Bisecting may re-insert
rows of a half-written batch: harmless, since every table replaces on its key. A
transient error that outlasts the retries is an outage, not a bad row: it raises, and
the storage writer resumes from its last committed offsets once ClickHouse is back.

Each stored batch is counted (``cxpulse_rows_written_total``, ``cxpulse_sink_batch_rows``,
``cxpulse_sink_batch_seconds``, labelled by table); ``on_written`` sees the columns of
every stored row (not the dead-lettered ones), for metrics such as dead letters by reason.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from schemas import metrics
from schemas.metrics import ROWS_WRITTEN, SINK_BATCH_ROWS, SINK_BATCH_SECONDS
from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES, DeadLetter
from sinks.backoff import Backoff
from sinks.batch_writer import convert_each, sink_error_letter, sink_flow
from sinks.clickhouse_client import ClickHouseUnavailableError
from sinks.tables import DEAD_LETTERS, ColumnLists, TableSpec, transpose

T = TypeVar("T")
log = logging.getLogger(__name__)

ClientFactory = Callable[[], Client]
# the columns of every stored batch, by name (e.g. for metrics by kind)
OnWritten = Callable[[Mapping[str, Sequence[Any]]], None]

_MAX_SINK_ERROR_CHARS = 500
_CODE = re.compile(r"\bCode: (\d+)\.")
# Server error codes worth waiting for: the same insert can succeed a moment later.
# (252 TOO_MANY_PARTS also covers "too many partitions for single INSERT block", which
# only a smaller batch fixes, so it is told apart by its message.)
_TRANSIENT_CODES = frozenset(
    {
        159,  # TIMEOUT_EXCEEDED
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS (merges behind)
        319,  # UNKNOWN_STATUS_OF_INSERT
        999,  # KEEPER_EXCEPTION
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same insert later may succeed (as opposed to a bad row)."""
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DatabaseError):
        text = str(exc)
        if "for single INSERT block" in text:
            return False
        m = _CODE.search(text)
        return m is not None and int(m.group(1)) in _TRANSIENT_CODES
    return False


def describe_error(exc: BaseException) -> str:
    """``<ExcType>: <first line of the message>``, short enough for a dead letter."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:_MAX_SINK_ERROR_CHARS]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def row_json(columns: Sequence[str], row: Sequence[Any]) -> bytes:
    """The row as a JSON object (column -> value), to keep in a dead letter's ``raw``."""
    try:
        doc = dict(zip(columns, row, strict=True))
        return json.dumps(doc, default=_jsonable, ensure_ascii=False).encode()
    except (TypeError, ValueError):  # mismatched row or unserialisable value
        return repr(tuple(row)).encode(errors="backslashreplace")


class ClickHouseWriter(Generic[T]):
    """Inserts batches into one table; isolates and dead-letters the rows it refuses."""

    def __init__(
        self,
        open_client: ClientFactory,
        spec: TableSpec[T],
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        on_written: OnWritten | None = None,
        dlq_max_raw_bytes: int = DEFAULT_DLQ_MAX_RAW_BYTES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._open_client = open_client
        self._spec = spec
        self._on_written = on_written
        table = spec.table
        self._rows_written = ROWS_WRITTEN.labels(table)
        self._batch_rows = SINK_BATCH_ROWS.labels(table)
        self._batch_seconds = SINK_BATCH_SECONDS.labels(table)
        self._unstored = metrics.DEAD_LETTERS_UNSTORED.labels(table)
        self._retry = Backoff(attempts, backoff_s, sleep)
        self._dlq_max_raw_bytes = dlq_max_raw_bytes
        self._now = now
        self._client: Client | None = None
        self.rows_written = 0
        self.rows_dead_lettered = 0

    @property
    def flow(self) -> str:
        """The ``flow`` of this writer's dead letters."""
        return sink_flow(self._spec.table)

    def setup(self) -> None:
        if self._client is None:
            self._client = self._open_client()

    def write_batch(self, items: list[T]) -> None:
        if not items:
            return
        started = time.perf_counter()
        self.setup()
        _, columns, letters = self._columns(items)
        self.write_columns(columns, letters, started=started)

    def write_columns(
        self,
        columns: ColumnLists,
        letters: Sequence[DeadLetter] = (),
        *,
        started: float | None = None,
    ) -> int:
        """Store rows given a list per column (in the spec's column order) plus the
        letters of items that never became rows; returns the rows stored. Rows the
        table refuses are dead-lettered, never raised (see the module doc)."""
        started = time.perf_counter() if started is None else started
        self.setup()
        letters = list(letters)
        n = len(columns[0]) if columns else 0
        refused = self._store(columns, 0, n)
        if refused:
            for i, error in refused:
                row = [column[i] for column in columns]
                raw = row_json(self._spec.columns, row)
                letters.append(self.letter(raw, self._spec.row_key(row), error))
            gone = {i for i, _ in refused}
            keep = [i for i in range(n) if i not in gone]
            columns = [[column[i] for i in keep] for column in columns]
        if letters:
            self._dead_letter(letters)
        stored = n - len(refused)
        # seconds include conversion and retries: what the caller waited for this batch
        self._batch_seconds.observe(time.perf_counter() - started)
        self._batch_rows.observe(stored)
        self._rows_written.inc(stored)
        self.rows_written += stored
        if self._on_written is not None and stored:
            self._on_written(dict(zip(self._spec.columns, columns, strict=True)))
        return stored

    def _columns(self, items: list[T]) -> tuple[list[T], ColumnLists, list[DeadLetter]]:
        """The items to store, as one list per column, and the letters of those that
        cannot convert. The whole batch converts a column at a time; only if that raises
        is it converted item by item, to dead-letter just the items that fail."""
        try:
            columns = self._spec.column_lists(items)
        except Exception:  # some item cannot convert: find which, one by one
            return self._columns_item_by_item(items)
        return items, columns, []

    def _columns_item_by_item(
        self, items: list[T]
    ) -> tuple[list[T], ColumnLists, list[DeadLetter]]:
        spec = self._spec
        width = len(spec.columns)

        def to_row(item: T) -> Sequence[Any]:
            row = spec.to_row(item)
            if len(row) != width:  # would be refused by the insert anyway
                raise ValueError(f"row of {len(row)} values for {width} columns")
            return row

        converted, letters = convert_each(items, to_row, self._unconvertible)
        columns = transpose([row for _, row in converted], width)
        return [item for item, _ in converted], columns, letters

    def _store(
        self, columns: ColumnLists, lo: int, hi: int, *, top: bool = True
    ) -> list[tuple[int, Exception]]:
        """Insert rows ``lo:hi`` of ``columns``; returns the indexes of the rows the table
        refused, each found alone by bisection (only after a failure: one insert when all
        is well)."""
        if lo >= hi:
            return []
        try:
            whole = lo == 0 and hi == len(columns[0])
            self._insert(columns if whole else [column[lo:hi] for column in columns])
            return []
        except ClickHouseUnavailableError:
            raise
        except Exception as exc:
            if hi - lo == 1:
                return [(lo, exc)]
            if top:
                log.warning(
                    "insert of %d rows into %s failed (%s); isolating the rows it refuses",
                    hi - lo,
                    self._spec.table,
                    describe_error(exc),
                )
            mid = (lo + hi) // 2
            return self._store(columns, lo, mid, top=False) + self._store(
                columns, mid, hi, top=False
            )

    def _insert(self, columns: ColumnLists, table: TableSpec[Any] | None = None) -> None:
        """One column-oriented insert, retried with backoff while the error is transient."""
        spec = table or self._spec
        assert self._client is not None
        rows = len(columns[0]) if columns else 0
        for attempt in range(1, self._retry.attempts + 1):
            try:
                self._client.insert(
                    spec.table, columns, column_names=spec.columns, column_oriented=True
                )
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if attempt == self._retry.attempts:
                    raise ClickHouseUnavailableError(
                        f"insert of {rows} rows into {spec.table} failed {attempt} times: {exc}"
                    ) from exc
                log.warning(
                    "insert into %s failed (attempt %d): %s; retrying",
                    spec.table,
                    attempt,
                    exc,
                )
                self._retry.pause(attempt)

    def _unconvertible(self, item: T, exc: Exception) -> DeadLetter:
        """The letter of an item that cannot become a row (its repr is all there is)."""
        text = repr(item)
        return self.letter(text.encode(errors="backslashreplace"), text, exc)

    def letter(self, raw: bytes, ident: object, exc: Exception) -> DeadLetter:
        """The dead letter (``sink_error``) of ``raw``, which this table could not take;
        keyed by ``ident``, so a replay rewrites the same letter."""
        return sink_error_letter(
            self._spec.table,
            ident,
            key=None,
            raw=raw,
            error=describe_error(exc),
            received_at=self._now(),
            flow=self.flow,
            cap=self._dlq_max_raw_bytes,
        )

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        """Store the letters of refused rows; never raises for a letter it cannot store."""
        for d in letters:
            log.warning(
                "%s: row refused, dead-lettered as %s: %s", self._spec.table, d.letter_id, d.error
            )
        columns = DEAD_LETTERS.column_lists(letters)
        try:
            self._insert(columns, DEAD_LETTERS)
            stored = letters
        except ClickHouseUnavailableError:
            raise
        except Exception:  # find which ones, one by one
            stored = []
            for i, d in enumerate(letters):
                try:
                    self._insert([column[i : i + 1] for column in columns], DEAD_LETTERS)
                    stored.append(d)
                except ClickHouseUnavailableError:
                    raise
                except Exception as exc:
                    self._unstored.inc()
                    log.error(
                        "%s: dead letter %s could not be stored either (%s); raw sha256 %s",
                        self._spec.table,
                        d.letter_id,
                        describe_error(exc),
                        d.raw_sha256,
                    )
        self.rows_dead_lettered += len(stored)
        metrics.dead_letters_written({"reason": [d.reason for d in stored]})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
