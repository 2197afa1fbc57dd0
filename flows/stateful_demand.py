"""Bytewax adapter for demand: one tenant's counts, forecasts and hotspots per key.

Hours close on the tenant's event-time watermark (min over input partitions, read once
per batch), so how a replay is batched never changes which rows come out.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable
from datetime import datetime, timedelta

from bytewax.operators import StatefulBatchLogic

from flows.config import FlowConfig
from flows.demand import DemandOutput, DemandTenant
from flows.stateful_ops import event_order
from flows.timeutil import to_ms
from flows.watermark import Watermark
from schemas.transport import Accepted

log = logging.getLogger(__name__)


class DemandLogic(StatefulBatchLogic[Accepted, DemandOutput, bytes]):
    """Counts one tenant's demand events and closes hours as its watermark passes them."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.cfg = cfg
        state: tuple[DemandTenant | None, Watermark] = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else (None, Watermark(0))
        )
        self.tenant, self.watermark = state
        if self.tenant is not None:
            self.tenant.cfg = cfg.demand  # changed settings apply from now on
        wm = self.watermark
        wm.lateness_ms = int(cfg.allowed_lateness_s * 1000)
        wm.idle_advance = cfg.idle_advance
        wm.partitions = cfg.input_partitions
        self._interval = timedelta(seconds=cfg.provisional_interval_s)
        self._next_notify = cfg.now() + self._interval

    def _close(self, *, end_of_input: bool = False) -> list[DemandOutput]:
        if self.tenant is None:
            return []
        now = self.cfg.now()
        wm = self.watermark
        upto = wm.current(to_ms(now))
        if end_of_input:  # every partition is caught up: only the hour in progress stays open
            upto = max(upto, wm.newest_ms - wm.lateness_ms)
        before = self.tenant.untracked_events
        out = self.tenant.close(upto, now)
        if self.tenant.untracked_events and not before:
            log.warning(
                "tenant %s has %d demand segments (the maximum): events of new segments "
                "are stored but not forecast",
                self.tenant.tenant_id,
                len(self.tenant.segments),
            )
        return out

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[DemandOutput], bool]:
        now_ms = to_ms(self.cfg.now())
        out: list[DemandOutput] = []
        for a in sorted(values, key=event_order):
            if self.tenant is None:
                self.tenant = DemandTenant(a.event.tenant_id, self.cfg.demand)
            ts = to_ms(a.event.occurred_at)
            out.extend(self.tenant.on_event(a.event, ts))
            self.watermark.observe(a.partition, ts, now_ms)
        out.extend(self._close())
        return out, False

    def on_notify(self) -> tuple[Iterable[DemandOutput], bool]:
        self._next_notify = self.cfg.now() + self._interval
        return self._close(), False

    def on_eof(self) -> tuple[Iterable[DemandOutput], bool]:
        return self._close(end_of_input=True), False

    def notify_at(self) -> datetime:
        return self._next_notify

    def snapshot(self) -> bytes:
        return pickle.dumps((self.tenant, self.watermark), protocol=pickle.HIGHEST_PROTOCOL)
