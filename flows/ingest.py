"""Ingest dataflow: Kafka bytes -> validated, de-duplicated events.

Valid events go to ``events``; everything else to the dead-letter topic and table.
Returns the stream of unique events for the other flows to build on.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from flows.config import FlowConfig
from flows.decode import decode
from flows.io import FlowIO
from flows.routing import event_id_shard, is_accepted
from flows.stateful import DedupLogic
from schemas.results import DeadLetter
from schemas.transport import Accepted, RawMessage


def _decode_now(cfg: FlowConfig, msg: RawMessage) -> Accepted | DeadLetter:
    limit = None if cfg.max_future_s is None else timedelta(seconds=cfg.max_future_s)
    return decode(msg, cfg.now(), limit)


def add_ingest(flow: Dataflow, cfg: FlowConfig, io: FlowIO) -> Stream[Accepted]:
    raw = op.input("kafka_in", flow, io.source())
    decoded = op.map("decode", raw, partial(_decode_now, cfg))
    split = op.branch("accepted", decoded, is_accepted)
    op.output("dead_letters_out", split.falses, io.sink("dead_letters"))
    op.output("dlq_topic_out", split.falses, io.sink("dlq_topic"))
    keyed = op.key_on("by_event_id", split.trues, partial(event_id_shard, cfg.shards))
    unique = op.stateful_batch("dedup", keyed, partial(DedupLogic, cfg))
    events: Stream[Accepted] = op.key_rm("unique", unique)
    if "ingest" in cfg.flows:
        op.output("events_out", events, io.sink("events"))
    return events
