"""Bytewax adapter for ingest dedup: one ``Deduplicator`` per ticket shard."""

from __future__ import annotations

from collections.abc import Iterable

from flows.core.state import StateLogic
from flows.core.timeutil import to_ms
from flows.ingest.dedup import Deduplicator
from schemas.transport import Accepted


class DedupLogic(StateLogic[Deduplicator]):
    """Passes each ``(tenant, event_id)`` once per shard (see :mod:`flows.ingest.dedup`)."""

    flow = "ingest"

    def new_state(self) -> Deduplicator:
        return Deduplicator(int(self.cfg.dedup_window_s * 1000))

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[Accepted], bool]:
        accept = self.state.accept
        out = [
            a
            for a in values
            if accept(
                a.event.event_id, to_ms(a.event.occurred_at), tenant=a.event.tenant_id, evict=False
            )
        ]
        self.state.evict()
        return out, False
