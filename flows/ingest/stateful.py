"""Bytewax adapter for ingest dedup: one ``Deduplicator`` per ticket shard."""

from __future__ import annotations

import pickle
from collections.abc import Iterable

from bytewax.operators import StatefulBatchLogic

from flows.config import FlowConfig
from flows.core.stateful import IncompatibleStateError
from flows.core.timeutil import to_ms
from flows.ingest.dedup import Deduplicator
from schemas.transport import Accepted


class DedupLogic(StatefulBatchLogic[Accepted, Accepted, bytes]):
    """Passes each ``(tenant, event_id)`` once per shard (see :mod:`flows.ingest.dedup`)."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.state: Deduplicator = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else Deduplicator(int(cfg.dedup_window_s * 1000))
        )
        if not hasattr(self.state, "tenants"):  # ids were not scoped by tenant yet
            raise IncompatibleStateError("dedup")

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

    def snapshot(self) -> bytes:
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)
