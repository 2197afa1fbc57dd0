"""Kafka producer sinks for the dead-letter and alert topics.

Each batch is flushed and every delivery checked before ``write_batch`` returns, so a
snapshot never covers a message the broker did not take.

No single item can stop the run. A message the broker (or the producer's own size
check) refuses for what it is (too large, invalid record) is dead-lettered through
``on_rejected`` (reason ``sink_error``, flow ``sink:<sink>``); other delivery errors are
retried with backoff, and only an outage that outlasts the retries raises (recovery
resumes from the last snapshot).

Dead letters on the dead-letter topic carry at most ``DLQ_MAX_RAW_BYTES`` of the
original, with its full size and sha256 in headers; the producer's ``message.max.bytes``
(:func:`dlq_message_max_bytes`) is derived from that cap and stays under the broker's
default limit, so every letter fits.

Each delivered batch is observed in ``cxpulse_sink_batch_rows`` / ``_seconds`` under the
writer's ``sink`` label (the flow's sink name, e.g. ``alerts_topic``; the topic by default).
Alerts are counted by kind where they are stored (the ``alerts`` table), not here.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, TypeVar

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from schemas.metrics import DEAD_LETTERS_UNSTORED, SINK_BATCH_ROWS, SINK_BATCH_SECONDS
from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES, MAX_DLQ_KEY_BYTES, Alert, DeadLetter
from sinks.backoff import Backoff
from sinks.batch_writer import WriterSink, convert_each, sink_error_letter, sink_flow

T = TypeVar("T")
Encoded = tuple[bytes | None, bytes, Sequence[tuple[str, bytes]]]  # key, value, headers
OnRejected = Callable[[list[DeadLetter]], None]
log = logging.getLogger(__name__)

# Header bytes a dead letter may carry: the error (cut to 8 KiB) plus small fields.
DLQ_HEADER_BUDGET = 16_384
_MAX_ERROR_HEADER = 8_192
_MAX_SHORT_HEADER = 512
# A Kafka broker's default message.max.bytes is 1048588; stay clearly below it.
BROKER_DEFAULT_LIMIT = 1_000_000

# Delivery errors about the message itself: retrying sends the same refused message.
PERMANENT_ERRORS = frozenset(
    {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD, KafkaError.RECORD_LIST_TOO_LARGE}
)


def dlq_message_max_bytes(cap: int) -> int:
    """``message.max.bytes`` of the dead-letter producer for a raw-bytes cap: the cap,
    a cut key and the header budget, so no letter is refused for its size."""
    limit = cap + MAX_DLQ_KEY_BYTES + DLQ_HEADER_BUDGET
    if cap < 0 or limit > BROKER_DEFAULT_LIMIT:
        raise ValueError(
            f"dead-letter cap {cap} gives message.max.bytes {limit}; it must stay within "
            f"{BROKER_DEFAULT_LIMIT} (the broker's default limit)"
        )
    return limit


def _cut(text: str, limit: int) -> bytes:
    """UTF-8, at most ``limit`` bytes, never splitting a character."""
    data = text.encode()
    return data if len(data) <= limit else data[:limit].decode(errors="ignore").encode()


def encode_dead_letter(d: DeadLetter) -> Encoded:
    """The kept bytes as value (the whole original unless ``cxpulse.truncated``), so they
    can be replayed, with the why, the original's size and sha256 in headers."""
    headers = [
        ("cxpulse.reason", d.reason.encode()),
        ("cxpulse.error", _cut(d.error, _MAX_ERROR_HEADER)),
        ("cxpulse.source", _cut(f"{d.topic}/{d.partition}/{d.offset}", _MAX_SHORT_HEADER)),
        ("cxpulse.letter_id", str(d.letter_id).encode()),
        ("cxpulse.flow", _cut(d.flow, _MAX_SHORT_HEADER)),
        ("cxpulse.raw_size", str(d.raw_size).encode()),
        ("cxpulse.raw_sha256", _cut(d.raw_sha256, _MAX_SHORT_HEADER)),
        ("cxpulse.truncated", b"true" if d.truncated else b"false"),
    ]
    return d.key, d.raw, headers


def encode_alert(a: Alert) -> Encoded:
    return (
        f"{a.tenant_id}/{a.subject_id}".encode(),
        a.model_dump_json().encode(),
        [
            ("cxpulse.alert_id", str(a.alert_id).encode()),
            ("cxpulse.kind", a.kind.encode()),
        ],
    )


def _is_permanent(err: KafkaError | Exception) -> bool:
    if isinstance(err, KafkaError):
        return err.code() in PERMANENT_ERRORS
    return isinstance(err, TypeError | ValueError)  # produce() refused the arguments


_Entry = tuple[T, Encoded]
_Failure = tuple[T, Encoded, KafkaError | Exception]


def _match(
    todo: list[_Entry[T]], failed: list[tuple[bytes | None, bytes | None, KafkaError]]
) -> list[_Failure[T]]:
    """The entries of the failed deliveries, by key and value (a duplicate message in one
    batch fails or succeeds like its twin: each failed delivery takes one entry)."""
    waiting: dict[tuple[bytes | None, bytes], list[_Entry[T]]] = {}
    for entry in todo:
        waiting.setdefault((entry[1][0], entry[1][1]), []).append(entry)
    out: list[_Failure[T]] = []
    for key, value, err in failed:
        entries = waiting.get((key, value or b""))
        if entries:
            entry = entries.pop()
            out.append((entry[0], entry[1], err))
    return out


class TopicWriter(Generic[T]):
    """Produces one topic; refused items go to ``on_rejected`` as dead letters.

    ``ident`` names an item stably (e.g. its ``alert_id``); a refused item's letter is
    keyed by it, so a replay rewrites the same letter. Without it, the encoded bytes
    are used. ``on_rejected`` may have ``setup()``/``close()``; they run with the writer's.
    """

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        encode: Callable[[T], Encoded],
        flush_timeout_s: float = 30.0,
        *,
        sink: str | None = None,
        on_rejected: OnRejected | None = None,
        ident: Callable[[T], object] | None = None,
        encode_batch: Callable[[list[T]], list[Encoded]] | None = None,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        dlq_max_raw_bytes: int = DEFAULT_DLQ_MAX_RAW_BYTES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = {"enable.idempotence": True, "linger.ms": 5, **config}
        self._topic = topic
        self._label = sink if sink is not None else topic
        self._batch_rows = SINK_BATCH_ROWS.labels(self._label)
        self._batch_seconds = SINK_BATCH_SECONDS.labels(self._label)
        self._unstored = DEAD_LETTERS_UNSTORED.labels(self._label)
        self._encode = encode
        self._flush_timeout_s = flush_timeout_s
        self._on_rejected = on_rejected
        self._ident = ident
        self._encode_batch = encode_batch
        self._retry = Backoff(attempts, backoff_s, sleep)
        self._dlq_max_raw_bytes = dlq_max_raw_bytes
        self._now = now
        self._producer: Producer | None = None
        self.rejected = 0

    @property
    def flow(self) -> str:
        """The ``flow`` of this writer's dead letters."""
        return sink_flow(self._label)

    def setup(self) -> None:
        if self._producer is None:
            self._producer = Producer(self._config)
            prepare = getattr(self._on_rejected, "setup", None)
            if callable(prepare):
                prepare()

    def write_batch(self, items: list[T]) -> None:
        if not items:
            return
        started = time.perf_counter()
        self.setup()
        todo, rejected = self._encode_all(items)
        for attempt in range(1, self._retry.attempts + 1):
            failed = self._send(todo)
            refused = [f for f in failed if _is_permanent(f[2])]
            retry = [f for f in failed if not _is_permanent(f[2])]
            if len(refused) > 1:
                # the broker refuses a whole record batch for one message in it: each
                # suspect goes again alone, and only those still refused are letters
                alone = [f for entry in refused for f in self._send([(entry[0], entry[1])])]
                refused = [f for f in alone if _is_permanent(f[2])]
                retry += [f for f in alone if not _is_permanent(f[2])]
            rejected += [self._letter(item, encoded, err) for item, encoded, err in refused]
            if not retry:
                break
            errors = [str(e) for _i, _e, e in retry[:3]]
            if attempt == self._retry.attempts:
                raise RuntimeError(
                    f"{len(retry)} message(s) to {self._topic} undelivered after "
                    f"{attempt} attempts; errors: {errors}"
                )
            log.warning(
                "%d message(s) to %s undelivered (attempt %d): %s; retrying",
                len(retry),
                self._topic,
                attempt,
                errors,
            )
            self._retry.pause(attempt)
            todo = [(item, encoded) for item, encoded, _err in retry]
        if rejected:
            self._reject(rejected)
        self._batch_seconds.observe(time.perf_counter() - started)
        self._batch_rows.observe(len(items) - len(rejected))

    def _encode_all(self, items: list[T]) -> tuple[list[_Entry[T]], list[DeadLetter]]:
        """Every item's message: the whole batch in one call when there is an
        ``encode_batch``; item by item when it raises, to letter only the bad items."""
        if self._encode_batch is not None:
            try:
                return list(zip(items, self._encode_batch(items), strict=True)), []
            except Exception:  # noqa: S110 - found and lettered one by one below
                pass
        return convert_each(items, self._encode, self._unencodable)

    def _send(self, todo: list[_Entry[T]]) -> list[_Failure[T]]:
        """Produce and flush; returns each message that failed, with its error.

        One delivery callback for the whole batch, not a closure per message (a tenth of
        the cost of producing a result row); the rare failed delivery is matched back to
        its entry by key and value."""
        assert self._producer is not None
        failures: list[_Failure[T]] = []
        failed: list[tuple[bytes | None, bytes | None, KafkaError]] = []

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failed.append((msg.key(), msg.value(), err))

        produce, topic = self._producer.produce, self._topic
        for entry in todo:
            key, value, headers = entry[1]
            while True:
                try:
                    produce(
                        topic,
                        value,
                        key,
                        headers=list(headers) if headers else None,
                        on_delivery=delivered,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
                except KafkaException as exc:  # refused before sending, e.g. too large
                    failures.append((entry[0], entry[1], exc.args[0]))
                    break
                except (TypeError, ValueError) as exc:
                    failures.append((entry[0], entry[1], exc))
                    break
        remaining = self._producer.flush(self._flush_timeout_s)
        if failed:
            failures += _match(todo, failed)
        if remaining:
            raise RuntimeError(
                f"{remaining} message(s) to {self._topic} undelivered after "
                f"{self._flush_timeout_s}s; errors so far: {[str(f[2]) for f in failures[:3]]}"
            )
        return failures

    def _unencodable(self, item: T, exc: Exception) -> DeadLetter:
        """The letter of an item that has no message (a bug for that item)."""
        return self._letter(item, None, exc)

    def _letter(self, item: T, encoded: Encoded | None, err: KafkaError | Exception) -> DeadLetter:
        if encoded is None:
            key, raw = None, repr(item).encode(errors="backslashreplace")
        else:
            key, raw = encoded[0], encoded[1]
        try:
            ident = self._ident(item) if self._ident is not None else None
        except Exception:
            ident = None
        if ident is None:
            ident = hashlib.sha256((key or b"") + b"\x1f" + raw).hexdigest()
        if isinstance(err, KafkaError):
            error = f"KafkaError {err.name()}: {err.str()}"
        else:
            error = f"{type(err).__name__}: {err}"
        return sink_error_letter(
            self._topic,
            ident,
            key=key,
            raw=raw,
            error=error,
            received_at=self._now(),
            flow=self.flow,
            cap=self._dlq_max_raw_bytes,
        )

    def _reject(self, letters: list[DeadLetter]) -> None:
        """Hand the refused items' letters on; never raises."""
        self.rejected += len(letters)
        for d in letters:
            log.warning(
                "%s: message refused, dead-lettered as %s: %s", self._topic, d.letter_id, d.error
            )
        failure = "no on_rejected handler"
        if self._on_rejected is not None:
            try:
                self._on_rejected(letters)
                return
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
        self._unstored.inc(len(letters))
        for d in letters:
            log.error(
                "%s: dead letter %s could not be stored (%s); raw sha256 %s",
                self._topic,
                d.letter_id,
                failure,
                d.raw_sha256,
            )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self._flush_timeout_s)
            self._producer = None
            done = getattr(self._on_rejected, "close", None)
            if callable(done):
                done()


class KafkaTopicSink(WriterSink[T]):
    """One producer per worker, opened in ``build``; see :class:`TopicWriter`."""

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        encode: Callable[[T], Encoded],
        *,
        sink: str | None = None,
        on_rejected: OnRejected | None = None,
        ident: Callable[[T], object] | None = None,
        encode_batch: Callable[[list[T]], list[Encoded]] | None = None,
        dlq_max_raw_bytes: int = DEFAULT_DLQ_MAX_RAW_BYTES,
    ) -> None:
        writer: Callable[[], TopicWriter[T]] = partial(
            TopicWriter,
            config,
            topic,
            encode,
            sink=sink,
            on_rejected=on_rejected,
            ident=ident,
            encode_batch=encode_batch,
            dlq_max_raw_bytes=dlq_max_raw_bytes,
        )
        super().__init__(writer)
