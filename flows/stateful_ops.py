"""Bytewax adapters for the operations flows: live ops per tenant (snapshots on an
event-time grid, plus live ones on a wall-clock timer when tailing)."""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from datetime import datetime, timedelta

from bytewax.operators import StatefulBatchLogic

from flows.cadence import Cadence
from flows.config import FlowConfig
from flows.live_ops import LiveOps
from flows.timeutil import to_ms
from schemas.ops import OpsSnapshot
from schemas.transport import Accepted


def event_order(a: Accepted) -> tuple[int, str]:
    """Event time, then id: batches are applied in an order independent of how upstream
    exchanges shuffled them, so snapshots replay identically."""
    return to_ms(a.event.occurred_at), str(a.event.event_id)


class LiveOpsLogic(StatefulBatchLogic[Accepted, OpsSnapshot, bytes]):
    """One tenant's live operations (see :mod:`flows.live_ops`)."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.cfg = cfg
        state: tuple[LiveOps | None, Cadence] = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else (None, Cadence(int(cfg.ops_snapshot_interval_s * 1000)))
        )
        self.ops, self.cadence = state
        self._changed = False
        self._interval = timedelta(seconds=cfg.provisional_interval_s)
        self._next_notify = cfg.now() + self._interval

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[OpsSnapshot], bool]:
        out: list[OpsSnapshot] = []
        for a in sorted(values, key=event_order):
            if self.ops is None:
                self.ops = LiveOps(a.event.tenant_id)
            due = self.cadence.due(to_ms(a.event.occurred_at))
            if due is not None:
                out.append(self.ops.snapshot(due))
            self.ops.on_event(a.event)
        self._changed = self._changed or bool(values)
        return out, False

    def _current(self) -> list[OpsSnapshot]:
        if self.ops is None or self.ops.as_of_ms is None or not self._changed:
            return []
        self._changed = False
        return [self.ops.snapshot()]

    def on_notify(self) -> tuple[Iterable[OpsSnapshot], bool]:
        self._next_notify = self.cfg.now() + self._interval
        return (self._current() if self.cfg.provisional else []), False

    def on_eof(self) -> tuple[Iterable[OpsSnapshot], bool]:
        return self._current(), False

    def notify_at(self) -> datetime:
        return self._next_notify

    def snapshot(self) -> bytes:
        return pickle.dumps((self.ops, self.cadence), protocol=pickle.HIGHEST_PROTOCOL)
