"""Bytewax adapter for ingest's keyed step, one per ticket shard: dedup, then the
erasure ledger (see :mod:`flows.ingest.dedup`, :mod:`flows.ingest.erasure`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from flows.core.config import CoreConfig
from flows.core.state import StateLogic
from flows.core.timeutil import to_ms
from flows.ingest.dedup import Deduplicator
from flows.ingest.erasure import (
    ErasureCopy,
    ErasureLedger,
    applied_receipt,
    suppression_letter,
)
from schemas.events import ClientErasureRequested
from schemas.privacy import ERASURE_EVENT, Erasure
from schemas.results import DeadLetter
from schemas.transport import Accepted


@dataclass
class IngestShard:
    """What one ingest shard remembers: recent event ids and the erased subjects."""

    dedup: Deduplicator
    ledger: ErasureLedger = field(default_factory=ErasureLedger)


class DedupLogic(StateLogic[IngestShard]):
    """Passes each ``(tenant, event_id)`` once per shard, except events of erased
    clients (each becomes an ``erased_subject`` letter); an erasure event passes once,
    with its ``applied`` receipt."""

    flow = "ingest"

    def __init__(
        self,
        cfg: CoreConfig,
        snapshot: bytes | None,
        *,
        erased: Mapping[bytes, UUID] | None = None,
    ) -> None:
        # the erasures recorded before this run (subject digests)
        self.erased: Mapping[bytes, UUID] = {} if erased is None else erased
        super().__init__(cfg, snapshot)

    def new_state(self) -> IngestShard:
        return IngestShard(Deduplicator(int(self.cfg.dedup_window_s * 1000)))

    def on_batch(
        self, values: list[Accepted | ErasureCopy]
    ) -> tuple[Iterable[Accepted | DeadLetter | Erasure], bool]:
        accept = self.state.dedup.accept
        ledger = self.state.ledger
        known = self.erased
        out: list[Accepted | DeadLetter | Erasure] = []
        for v in values:
            if isinstance(v, ErasureCopy):
                request = v.accepted.event.payload
                assert isinstance(request, ClientErasureRequested)
                ledger.erase(v.accepted.event.tenant_id, request)
                continue
            e = v.event
            # the ledger first: every event of an erased client is a letter, repeats too
            erasure = ledger.suppressing(e, known)
            if erasure is not None:
                out.append(suppression_letter(v, erasure, self._topic(e.tenant_id)))
            elif accept(e.event_id, to_ms(e.occurred_at), tenant=e.tenant_id, evict=False):
                if e.event_type == ERASURE_EVENT:
                    assert isinstance(e.payload, ClientErasureRequested)
                    ledger.erase(e.tenant_id, e.payload)
                    out += (v, applied_receipt(v))
                else:
                    out.append(v)
        self.state.dedup.evict()
        return out, False

    def _topic(self, tenant: str) -> str:
        topic = self.cfg.events_topic
        return f"{topic}.{tenant}" if self.cfg.tenant_topics else topic
