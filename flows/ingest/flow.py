"""Ingest: Kafka bytes -> validated events stamped by the input clock -> de-duplicated.

Valid events go to ``events``; everything else becomes a dead letter. Returns the
unique events, the per-tenant tick stream and the dead letters for the other flows
and the pipeline to build on.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from flows.core.clock import Tick
from flows.core.clock_flow import add_clock
from flows.core.io import FlowIO
from flows.core.keys import is_accepted, ticket_key
from flows.core.outputs import EVENTS
from flows.core.wiring import stateful
from flows.ingest.decode import decode
from flows.ingest.stateful import DedupLogic
from schemas.results import DeadLetter
from schemas.transport import Accepted, RawMessage

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


def _limit(seconds: float | None) -> timedelta | None:
    return None if not seconds else timedelta(seconds=seconds)


def _decode_now(cfg: FlowConfig, msg: RawMessage) -> Accepted | DeadLetter:
    return decode(
        msg,
        cfg.now(),
        _limit(cfg.max_future_s),
        max_past=_limit(cfg.max_past_s),
        raw_cap=cfg.dlq_max_raw_bytes,
    )


def add_ingest(
    flow: Dataflow, cfg: FlowConfig, io: FlowIO
) -> tuple[Stream[Accepted], Stream[Tick], Stream[DeadLetter]]:
    raw = op.input("kafka_in", flow, io.source())
    decoded = op.map("decode", raw, partial(_decode_now, cfg))
    split = op.branch("accepted", decoded, is_accepted)
    judged, ticks = add_clock(split.trues, cfg)
    # Keyed like the ticket steps downstream: a ticket's events then keep their partition
    # order end to end (a join emitted on arrival, e.g. a KB text, sees created first).
    keyed = op.key_on("by_ticket_dedup", judged, partial(ticket_key, cfg.shards))
    events: Stream[Accepted] = stateful("unique", "dedup", keyed, partial(DedupLogic, cfg))
    if "ingest" in cfg.flows:
        op.output("events_out", events, io.sink(EVENTS))
    rejected: Stream[DeadLetter] = split.falses  # type: ignore[assignment]
    return events, ticks, rejected
