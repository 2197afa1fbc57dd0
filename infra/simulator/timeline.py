"""Simulated time and how much traffic it carries.

Time is integer milliseconds since the epoch: exact, hashable and cheap to format, so
floating-point drift can never reorder or duplicate timestamps. The volume profile
(business-hour peaks, quiet nights and weekends) thins every arrival stream.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEC = 1_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR


# ---- volume profile -------------------------------------------------------------------

# Monday..Sunday. Weekends run at ~40 % so weekly dashboards show a visible dip.
_WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.0, 0.9, 0.4, 0.4)
_NIGHT_FLOOR = 0.1


def demand_at(ms: int) -> float:
    """``demand_multiplier`` on epoch milliseconds: the hot path avoids datetime objects."""
    day, in_day = divmod(ms, DAY)
    h = in_day / HOUR
    morning = math.exp(-0.5 * ((h - 10.0) / 2.2) ** 2)
    afternoon = 0.95 * math.exp(-0.5 * ((h - 15.0) / 2.4) ** 2)
    diurnal = _NIGHT_FLOOR + (1.0 - _NIGHT_FLOOR) * max(morning, afternoon)
    return diurnal * _WEEKDAY_FACTOR[(day + 3) % 7]  # 1970-01-01 was a Thursday


def demand_multiplier(t: datetime) -> float:
    """Relative traffic volume at ``t``, in (0, 1]; exactly 1.0 on Mon-Thu at 10:00 UTC.

    Two business-hour peaks (~10:00 and ~15:00 UTC, with a lunch dip between them), a
    night floor of 10 %, Friday at 90 % and weekends at 40 %. Arrival streams use it to
    thin a constant-rate Poisson process, which is why its maximum must be 1.0.
    """
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("t must be timezone-aware")
    return demand_at(to_ms(t))


def to_ms(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(milliseconds=1)
