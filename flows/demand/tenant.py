"""Demand of one tenant: hourly counts per segment, forecasts, backtests, hotspot and
anomaly alerts.

Pure state (no Bytewax, Kafka or I/O), advanced by event time only:

* ``on_event`` counts a demand event into its UTC hour for every segment it belongs to
  (``ticket.created`` -> queue and region, ``service.requested`` -> region and service
  type, ``session.queued`` -> queue).
* ``close(watermark_ms)`` closes every hour that ended at or before the watermark, in
  order. Each closed hour appends one count per known segment (zeros included: a quiet
  hour is data), advances the segment's model, refits it on the refit grid
  (``refit_every_h`` hours, UTC-aligned) or when it first has a week of history, and on
  the forecast grid emits a snapshot for the ``horizon_h`` hours from the hour *after*
  the one in progress (the hour after the latest event time seen).
* A segment without demand for ``retire_after_h`` is retired (no more snapshots); at
  most ``max_segments`` are tracked per tenant, so producers' junk labels cannot grow
  the state without bound (``untracked_events`` counts what that left out; the events
  themselves are stored as always).
* An event for an hour already closed still counts: the hour's row is re-emitted with
  the higher count (the count is its version), and later fits see it. Snapshots already
  made are not redone; they are a record of what was forecast.

Outputs depend only on the events and their event times, so a replay gives the same
rows. A hotspot alert fires once per episode: the first forecast hour over the
segment's threshold that is not adjacent to an hour already alerted. An ``anomaly``
alert fires when a closed hour lies outside the 95 % interval of the last forecast made
before it started by the weekly model (:mod:`flows.demand.anomaly`); each segment keeps
just those expectations, for its next ``forecast_every_h`` hours.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from flows.core.timeutil import from_ms
from flows.demand.anomaly import AnomalyRule, Expected, demand_anomaly
from flows.demand.forecast import HOUR_MS, MIN_WEEKLY_H, SeriesModel, fit_series, forecast
from schemas.demand import MAX_HORIZON_H, BacktestRow, DemandHourly, ForecastSnapshot, SegmentType
from schemas.events import Event, ServiceRequested, SessionLifecycle, TicketCreated
from schemas.ids import stable_id
from schemas.results import Alert

DEMAND_EVENT_TYPES = frozenset({"ticket.created", "service.requested", "session.queued"})

Segment = tuple[SegmentType, str]
DemandOutput = DemandHourly | ForecastSnapshot | BacktestRow | Alert


def demand_segments(event: Event) -> tuple[Segment, ...]:
    """The segments one event is demand in (none for other event types)."""
    p = event.payload
    if isinstance(p, TicketCreated):
        return (("queue", p.queue), ("region", p.region))
    if isinstance(p, ServiceRequested):
        return (("region", p.region), ("service_type", p.service_type))
    if event.event_type == "session.queued" and isinstance(p, SessionLifecycle):
        return (("queue", p.queue),)
    return ()


def segment_label(seg: Segment) -> str:
    return f"{seg[0]}:{seg[1]}"


@dataclass(frozen=True)
class HotspotRule:
    """When a forecast hour is a hotspot.

    An absolute threshold (events/hour) for a segment, keyed ``"type:name"`` (e.g.
    ``"queue:billing"``), wins; otherwise the threshold is ``ratio`` times the segment's
    typical busy hour: the ``typical_quantile`` of its hourly counts over the last
    ``typical_window_h`` hours, once it has ``min_history_h`` of them. The default, 1.25 x
    the 95th percentile, fires on demand clearly above an ordinary peak, not on every
    daily peak. Hours forecast below ``min_level`` never count (tiny segments are noisy).
    """

    ratio: float = 1.25
    absolute: Mapping[str, float] = field(default_factory=dict)
    horizon_h: int = 24
    min_level: float = 5.0
    typical_window_h: int = 336
    typical_quantile: float = 0.95
    min_history_h: int = 168

    def __post_init__(self) -> None:
        if self.ratio <= 0 or not 0 < self.typical_quantile <= 1:
            raise ValueError("hotspot ratio must be > 0 and typical_quantile in (0, 1]")
        if not 1 <= self.horizon_h <= MAX_HORIZON_H:
            raise ValueError(f"hotspot horizon_h must be in 1..{MAX_HORIZON_H}")
        bad = {k: v for k, v in self.absolute.items() if v <= 0 or ":" not in k}
        if bad:
            raise ValueError(f"hotspot thresholds need 'type:segment' keys and values > 0: {bad}")

    def threshold(self, seg: Segment, counts: array[int]) -> tuple[float, str, float] | None:
        """(threshold, rule, typical level) for a segment, or None while unknown."""
        fixed = self.absolute.get(segment_label(seg))
        if fixed is not None:
            return fixed, "absolute", float("nan")
        if len(counts) < self.min_history_h:
            return None
        recent = np.asarray(counts[-self.typical_window_h :], dtype=np.float64)
        typical = float(np.quantile(recent, self.typical_quantile))
        if typical <= 0:
            return None
        return self.ratio * typical, "ratio", typical


@dataclass(frozen=True)
class DemandConfig:
    horizon_h: int = MAX_HORIZON_H  # hours stored per snapshot (the API serves 1..336)
    forecast_every_h: int = 1
    refit_every_h: int = 24
    backtest_origins: int = 7
    backtest_horizon_h: int = 24
    max_history_h: int = 6 * 168
    retire_after_h: int = 28 * 24  # a segment without demand this long stops being forecast
    max_segments: int = 1_000  # per tenant: junk labels cannot grow state without bound
    hotspot: HotspotRule = field(default_factory=HotspotRule)
    anomaly: AnomalyRule = field(default_factory=AnomalyRule)

    def __post_init__(self) -> None:
        if not 1 <= self.horizon_h <= MAX_HORIZON_H:
            raise ValueError(f"forecast horizon_h must be in 1..{MAX_HORIZON_H}")
        if self.forecast_every_h < 1 or self.refit_every_h < 1:
            raise ValueError("forecast_every_h and refit_every_h must be >= 1")
        if self.backtest_origins < 1 or not 1 <= self.backtest_horizon_h <= 168:
            raise ValueError("backtest_origins must be >= 1 and backtest_horizon_h in 1..168")
        if self.retire_after_h < 1 or self.max_segments < 1:
            raise ValueError("retire_after_h and max_segments must be >= 1")
        if self.max_history_h < MIN_WEEKLY_H + self.backtest_horizon_h:
            raise ValueError(
                f"max_history_h must be >= {MIN_WEEKLY_H + self.backtest_horizon_h} "
                "(a week to initialise, a day to fit, the backtest horizon)"
            )


@dataclass
class SegmentState:
    first_hour: int  # hour index of counts[0]
    counts: array[int] = field(default_factory=lambda: array("q"))
    model: SeriesModel | None = None
    hot_until: int = -1  # last target hour covered by a hotspot alert
    last_demand_hour: int = -1  # latest hour with events
    # hour -> the last forecast made before it started (at most forecast_every_h hours)
    expected: dict[int, Expected] = field(default_factory=dict)

    @property
    def end_hour(self) -> int:
        return self.first_hour + len(self.counts)


class DemandTenant:
    """Demand state of one tenant (see module docstring)."""

    def __init__(self, tenant_id: str, cfg: DemandConfig) -> None:
        self.tenant_id = tenant_id
        self.cfg = cfg
        self.pending: dict[int, dict[Segment, int]] = {}
        self.segments: dict[Segment, SegmentState] = {}
        self.next_hour: int | None = None  # first hour not closed yet
        self.untracked_events = 0  # counted while max_segments was reached (not forecast)

    # -- input ----------------------------------------------------------------------------

    def on_event(self, event: Event, ts_ms: int) -> list[DemandHourly]:
        """Count one event; returns re-emitted hour rows when it lands in a closed hour."""
        segs = demand_segments(event)
        hour = ts_ms // HOUR_MS
        if self.next_hour is None or hour >= self.next_hour:
            bucket = self.pending.setdefault(hour, {})
            for seg in segs:
                bucket[seg] = bucket.get(seg, 0) + 1
            return []
        out: list[DemandHourly] = []
        for seg in segs:
            st = self.segments.get(seg)
            if st is None:  # a segment first seen late: history from its hour, zeros since
                st = self.segments[seg] = SegmentState(hour)
                st.counts.extend([0] * (self.next_hour - hour))
            if hour < st.first_hour:
                continue  # older than the kept history: nothing left to correct
            i = hour - st.first_hour
            st.counts[i] += 1
            out.append(self._hourly(seg, hour, st.counts[i]))
        return out

    # -- closing hours ----------------------------------------------------------------------

    def close(self, watermark_ms: int, fired_at: datetime) -> list[DemandOutput]:
        """Close every hour ending at or before ``watermark_ms``, oldest first."""
        if self.next_hour is None:
            if not self.pending:
                return []
            self.next_hour = min(self.pending)
        out: list[DemandOutput] = []
        while (self.next_hour + 1) * HOUR_MS <= watermark_ms:
            out.extend(self._close_hour(self.next_hour, fired_at))
            self.next_hour += 1
        return out

    def _close_hour(self, hour: int, fired_at: datetime) -> list[DemandOutput]:
        counts = self.pending.pop(hour, {})
        for seg in sorted(counts):
            if seg in self.segments:
                continue
            if len(self.segments) >= self.cfg.max_segments:
                self.untracked_events += counts[seg]
                continue
            self.segments[seg] = SegmentState(hour)
        boundary = hour + 1
        out: list[DemandOutput] = []
        for seg in sorted(self.segments):
            st = self.segments[seg]
            n = counts.get(seg, 0)
            if n:
                st.last_demand_hour = hour
            elif hour - max(st.last_demand_hour, st.first_hour) >= self.cfg.retire_after_h:
                del self.segments[seg]  # retired: a later event starts it afresh
                continue
            st.counts.append(n)
            if len(st.counts) > self.cfg.max_history_h:
                del st.counts[: len(st.counts) - self.cfg.max_history_h]
                st.first_hour = st.end_hour - self.cfg.max_history_h
            out.append(self._hourly(seg, hour, n))
            anomaly = self._judge(seg, st, hour, n, fired_at)
            if anomaly is not None:
                out.append(anomaly)
            if st.model is not None:
                st.model.forecaster.observe(hour, n)
            if self._refit_due(st, boundary):
                st.model = fit_series(
                    st.counts,
                    st.first_hour,
                    max_origins=self.cfg.backtest_origins,
                    horizon_h=self.cfg.backtest_horizon_h,
                )
                out.extend(self._backtest_rows(seg, boundary, st.model))
            if boundary % self.cfg.forecast_every_h == 0:
                out.extend(self._snapshot(seg, st, boundary, fired_at))
        return out

    def _judge(
        self, seg: Segment, st: SegmentState, hour: int, n: int, fired_at: datetime
    ) -> Alert | None:
        """Judge a closed hour against the forecast made before it (see
        :mod:`flows.demand.anomaly`); its expectation, and any older one, is dropped."""
        exp = st.expected.pop(hour, None)
        if st.expected and min(st.expected) < hour:  # only after a config change
            st.expected = {h: e for h, e in st.expected.items() if h > hour}
        rule = self.cfg.anomaly
        if exp is None or not rule.enabled:
            return None
        return demand_anomaly(self.tenant_id, seg[0], seg[1], hour, n, exp, rule, fired_at)

    def _refit_due(self, st: SegmentState, boundary: int) -> bool:
        if st.model is None or boundary % self.cfg.refit_every_h == 0:
            return True
        return not st.model.weekly and len(st.counts) == MIN_WEEKLY_H  # a week: go weekly

    # -- rows ---------------------------------------------------------------------------

    def _hourly(self, seg: Segment, hour: int, n: int) -> DemandHourly:
        return DemandHourly(self.tenant_id, seg[0], seg[1], from_ms(hour * HOUR_MS), n)

    def _backtest_rows(self, seg: Segment, boundary: int, model: SeriesModel) -> list[BacktestRow]:
        """A row per candidate of the refit, the chosen one ``selected``."""
        at = from_ms(boundary * HOUR_MS)
        return [
            BacktestRow(
                self.tenant_id,
                seg[0],
                seg[1],
                at,
                c.backtest.model,
                c.backtest.baseline,
                c.backtest.origins,
                c.backtest.horizon_h,
                c.backtest.points,
                c.backtest.mae,
                c.backtest.baseline_mae,
                c.backtest.wape,
                c.backtest.mase,
                c.backtest.coverage_80,
                c.backtest.coverage_95,
                c.selected,
            )
            for c in model.candidates
        ]

    def _snapshot(
        self, seg: Segment, st: SegmentState, boundary: int, fired_at: datetime
    ) -> list[DemandOutput]:
        assert st.model is not None
        first_target = boundary + 1  # the hour after the one in progress
        hours = first_target + np.arange(self.cfg.horizon_h, dtype=np.int64)
        band = forecast(st.model, hours)
        snap = ForecastSnapshot(
            self.tenant_id,
            seg[0],
            seg[1],
            from_ms(boundary * HOUR_MS),
            from_ms(first_target * HOUR_MS),
            st.model.name,
            tuple(band.predicted.tolist()),
            tuple(band.lower_80.tolist()),
            tuple(band.upper_80.tolist()),
            tuple(band.lower_95.tolist()),
            tuple(band.upper_95.tolist()),
        )
        # this snapshot is the last one made before its first forecast_every_h targets;
        # only a weekly model's are judged against: the cold-start ones know no weekly
        # cycle, so every quiet weekend would fall below them
        if st.model.weekly:
            for i in range(min(self.cfg.forecast_every_h, self.cfg.horizon_h)):
                st.expected[first_target + i] = Expected(
                    snap.predicted[i], snap.lower_95[i], snap.upper_95[i], boundary
                )
        out: list[DemandOutput] = [snap]
        out.extend(self._hotspots(seg, st, snap, first_target, fired_at))
        return out

    def _hotspots(
        self, seg: Segment, st: SegmentState, snap: ForecastSnapshot, first: int, fired: datetime
    ) -> list[Alert]:
        rule = self.cfg.hotspot
        found = rule.threshold(seg, st.counts)
        if found is None:
            return []
        limit, how, typical = found
        alerts: list[Alert] = []
        for i, predicted in enumerate(snap.predicted[: rule.horizon_h]):
            if predicted <= limit or predicted < rule.min_level:
                continue
            hour = first + i
            if hour <= st.hot_until:
                continue
            if hour != st.hot_until + 1:  # not extending the episode alerted last
                alerts.append(hotspot_alert(snap, i, limit, how, typical, fired))
            st.hot_until = hour
        return alerts


def hotspot_alert(
    snap: ForecastSnapshot, i: int, limit: float, rule: str, typical: float, fired_at: datetime
) -> Alert:
    """One ``demand_hotspot`` alert for target ``i`` of a snapshot; its id is the segment
    and target hour, so the same episode forecast again never alerts twice."""
    seg: Segment = (snap.segment_type, snap.segment)
    target = snap.target_start(i)
    predicted = snap.predicted[i]
    sure = snap.lower_80[i] > limit
    return Alert(
        alert_id=stable_id("demand_hotspot", snap.tenant_id, seg[0], seg[1], target),
        tenant_id=snap.tenant_id,
        kind="demand_hotspot",
        severity="high" if sure else "medium",
        subject_type="segment",
        subject_id=segment_label(seg),
        title=(
            f"Demand hotspot: {seg[0]} {seg[1]} forecast {predicted:.0f}/h at "
            f"{target:%Y-%m-%d %H:%M} UTC (threshold {limit:.0f}/h)"
        ),
        details={
            "segment_type": seg[0],
            "segment": seg[1],
            "target_start": target.isoformat(),
            "predicted": round(predicted, 3),
            "lower_80": round(snap.lower_80[i], 3),
            "upper_80": round(snap.upper_80[i], 3),
            "threshold": round(limit, 3),
            "rule": rule,
            "typical": None if rule == "absolute" else round(typical, 3),
            "model": snap.model,
            "generated_at": snap.generated_at.isoformat(),
        },
        event_time=snap.generated_at,
        fired_at=fired_at,
    )
