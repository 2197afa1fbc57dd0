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
from flows.core.keys import accepted_only, by_ticket_key, rejected_only, values
from flows.core.outputs import EVENTS
from flows.ingest.decode import decode_batch
from flows.ingest.redact import redact_batch
from flows.ingest.stateful import DedupLogic
from schemas.results import DeadLetter
from schemas.tenant_topics import topic_tenant
from schemas.transport import Accepted, RawMessage

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


def _limit(seconds: float | None) -> timedelta | None:
    return None if not seconds else timedelta(seconds=seconds)


def _decode_batch_now(cfg: FlowConfig, msgs: list[RawMessage]) -> list[Accepted | DeadLetter]:
    """A poll's messages, all received now (one clock read and one pair of limits)."""
    return decode_batch(
        msgs,
        cfg.now(),
        _limit(cfg.max_future_s),
        max_past=_limit(cfg.max_past_s),
        raw_cap=cfg.dlq_max_raw_bytes,
        topic_tenant=partial(topic_tenant, cfg.events_topic) if cfg.tenant_topics else None,
    )


def add_ingest(
    flow: Dataflow, cfg: FlowConfig, io: FlowIO
) -> tuple[Stream[Accepted], Stream[Tick], Stream[DeadLetter]]:
    # Batch at a time: every stateless step below is one Python call per batch.
    raw = op.input("kafka_in", flow, io.source())
    decoded = op.flat_map_batch("decode", raw, partial(_decode_batch_now, cfg))
    accepted = op.flat_map_batch("accepted", decoded, accepted_only)
    rejected = op.flat_map_batch("rejected", decoded, rejected_only)
    if cfg.redact_text:  # before anything stores, uses or keeps the text in state
        accepted = op.flat_map_batch("redact", accepted, redact_batch)
    judged, ticks = add_clock(accepted, cfg)
    # Keyed like the ticket steps downstream: a ticket's events then keep their partition
    # order end to end (a join emitted on arrival, e.g. a KB text, sees created first).
    keyed = op.flat_map_batch("by_ticket_dedup", judged, partial(by_ticket_key, cfg.shards))
    unique = op.stateful_batch("dedup", keyed, partial(DedupLogic, cfg))
    events = op.flat_map_batch("unique", unique, values)
    if "ingest" in cfg.flows:
        op.output("events_out", events, io.sink(EVENTS))
    return events, ticks, rejected
