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
from flows.core.keys import accepted_only, instances_of, rejected_only, values
from flows.core.outputs import ERASURES, EVENTS
from flows.ingest.decode import decode_batch
from flows.ingest.erasure import by_ticket_key_with_erasures, stored_events
from flows.ingest.redact import redact_batch
from flows.ingest.stateful import DedupLogic
from schemas.privacy import Erasure
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
    # An erasure event reaches every shard (any may meet the client's events).
    keyed = op.flat_map_batch(
        "by_ticket_dedup", judged, partial(by_ticket_key_with_erasures, cfg.shards)
    )
    judged_once = op.stateful_batch("dedup", keyed, partial(DedupLogic, cfg, erased=cfg.erased))
    passed = op.flat_map_batch("unique", judged_once, values)
    events = op.flat_map_batch("events", passed, partial(instances_of, Accepted))
    suppressed = op.flat_map_batch("suppressed", passed, partial(instances_of, DeadLetter))
    applied = op.flat_map_batch("erasures_applied", passed, partial(instances_of, Erasure))
    op.output("erasures_out", applied, io.sink(ERASURES))
    if "ingest" in cfg.flows:
        stored = op.flat_map_batch("stored_events", events, stored_events)
        op.output("events_out", stored, io.sink(EVENTS))
    return events, ticks, op.merge("ingest_letters", rejected, suppressed)
