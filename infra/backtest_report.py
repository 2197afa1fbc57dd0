"""Backtest rows as a plain-text table for ``cxpulse forecast backtest``."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.demand import BacktestRow

_HEADER = (
    "tenant",
    "type",
    "segment",
    "model",
    "origins",
    "points",
    "wape",
    "mase",
    "cov80",
    "cov95",
    "baseline",
    "refit (event time)",
)


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def backtest_table(rows: Sequence[BacktestRow]) -> str:
    """Aligned columns, one line per segment; numbers right-aligned."""
    body = [
        (
            r.tenant_id,
            r.segment_type,
            r.segment,
            r.model,
            str(r.origins),
            str(r.points),
            _num(r.wape),
            _num(r.mase),
            _num(r.coverage_80),
            _num(r.coverage_95),
            r.baseline,
            r.generated_at.strftime("%Y-%m-%d %H:%M"),
        )
        for r in rows
    ]
    widths = [max(len(c) for c in col) for col in zip(_HEADER, *body, strict=True)]
    numeric = {4, 5, 6, 7, 8, 9}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(_HEADER), *(line(b) for b in body)])
