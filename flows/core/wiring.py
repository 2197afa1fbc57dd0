"""Bytewax wiring every capability repeats, written once: select events by type, run a
stateful step, split its mixed output by type into outputs, gather dead letters.

Each ``add_*`` of a capability returns ``Emitted``: its alerts and dead letters, which
the pipeline writes once each (one merge, one output per destination).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import KeyedStream, StatefulBatchLogic

from flows.core.clock import Tick
from flows.core.io import FlowIO
from flows.core.keys import instance_of
from flows.core.outputs import SinkKey
from schemas.results import Alert, DeadLetter
from schemas.transport import Accepted

T = TypeVar("T")


class Emitted(NamedTuple):
    """What a capability hands back to the pipeline (``alerts`` None: it raises none).

    ``sla``: the client-risk flow's ``sla_breach`` alerts with the watermarks its ticket
    shards forwarded after them (each ``Tick`` names its shard), for the pipeline to hand
    to the live-ops flow; None for the other flows."""

    alerts: Stream[Alert] | None
    letters: Stream[DeadLetter]
    sla: Stream[Alert | Tick] | None = None


def of_types(types: frozenset[str], a: Accepted) -> bool:
    return a.event.event_type in types


def select(step_id: str, events: Stream[Accepted], types: frozenset[str]) -> Stream[Accepted]:
    """The events of the given types."""
    return op.filter(step_id, events, partial(of_types, types))


def stateful(
    out_id: str,
    step_id: str,
    keyed: KeyedStream[Any],
    builder: Callable[[bytes | None], StatefulBatchLogic[Any, Any, bytes]],
) -> Stream[Any]:
    """A stateful step (``step_id``, the id its recovery state is stored under) and its
    output without the keys (``out_id``)."""
    return op.key_rm(out_id, op.stateful_batch(step_id, keyed, builder))


def pick(step_id: str, up: Stream[Any], cls: type[T]) -> Stream[T]:
    """The items of a step's mixed output that are ``cls``."""
    return op.filter_map(step_id, up, partial(instance_of, cls))


def pick_out(io: FlowIO, step_id: str, out_id: str, up: Stream[Any], key: SinkKey[T]) -> None:
    """The items of a mixed output that the output ``key`` takes, written to it."""
    op.output(out_id, pick(step_id, up, key.row_type), io.sink(key))


def letters(step_id: str, *outputs: tuple[str, Stream[Any]]) -> Stream[DeadLetter]:
    """The dead letters of several steps' outputs, as one stream (``(pick id, output)``)."""
    picked = [pick(pick_id, up, DeadLetter) for pick_id, up in outputs]
    return picked[0] if len(picked) == 1 else op.merge(step_id, *picked)
