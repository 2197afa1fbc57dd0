"""What every stateful adapter shares: a versioned snapshot codec, one wall-clock timer
and one end-of-input path.

Why one codec: a recovery store outlives the code that wrote it. Every snapshot is
``(STATE_FORMAT, payload)`` pickled, and :func:`load_state` is the only place that
unpickles one, so a store written by another layout (an older format, or classes that
have moved since) is refused with what to do, the same way for every step, instead of
failing somewhere inside a step's logic.
"""

from __future__ import annotations

import pickle
from abc import abstractmethod
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from bytewax.operators import StatefulBatchLogic

from flows.core.config import CoreConfig

S = TypeVar("S")

# Version of what ``dump_state`` writes; a recovery store in another one cannot be resumed.
# 3: modules moved into capability packages (pickled class paths changed); every
#    stateful step (dedup and the clocks included) writes this envelope.
# 4: demand segments keep the forecast made for their next hours (anomaly alerts).
# 5: live ops keeps complaints, tickets, active sessions and the agent board (issue #12).
# 6: live ops keeps the open episodes of the tenant's threshold rules (issue #12).
# 7: ... and the tenant's rules defined through the API (from the rules topic).
# 8: ... and the tenant's SLA breaches of the last hour (sla_breaches_1h).
# 9: every step can forget an erased client (#13): KB texts, clusters and complaint
#    creations, decided SLA tickets, agent tickets and live-ops complaints name theirs.
# 10: a demand segment keeps the chosen candidate model and its backtests (#16).
# 11: the KB config holds the member threshold and join margin of the stricter join (#16).
# 12: agent tickets keep the facts counted before their partner (untimed), not pending
#     ones, and the newest time per tenant and partition (determinism, #13).
STATE_FORMAT = 12


class IncompatibleStateError(RuntimeError):
    """The recovery store holds state in a layout this version cannot resume from."""

    def __init__(self, step: str, why: str) -> None:
        self.step, self.why = step, why
        super().__init__(
            f"the recovery store holds {step} state this cxpulse cannot resume ({why}; it "
            f"reads state format {STATE_FORMAT}). Stop, move <CXPULSE_DATA_DIR>/recovery "
            "aside and run again: the run replays the events topic from its start into a "
            "fresh store and the idempotent sinks rewrite the same rows (needs the topic's "
            "retention to cover the history)."
        )


def dump_state(payload: object) -> bytes:
    """A snapshot of ``payload`` in the current state format."""
    return pickle.dumps((STATE_FORMAT, payload), protocol=pickle.HIGHEST_PROTOCOL)


def load_state(step: str, snapshot: bytes) -> Any:
    """The payload of a snapshot :func:`dump_state` wrote; anything else (another format,
    a class that no longer imports, bytes that are no pickle) is refused."""
    try:
        loaded = pickle.loads(snapshot)  # noqa: S301 - our own recovery store
    except (AttributeError, ImportError) as exc:  # a class that moved or went
        why = f"it names a class that no longer imports: {exc}"
        raise IncompatibleStateError(step, why) from exc
    except Exception as exc:
        raise IncompatibleStateError(step, f"unreadable snapshot: {exc!r}") from exc
    if not (isinstance(loaded, tuple) and loaded and type(loaded[0]) is int):
        raise IncompatibleStateError(step, "a snapshot from before versioned state")
    if loaded[0] != STATE_FORMAT:
        raise IncompatibleStateError(step, f"state format {loaded[0]}")
    if len(loaded) != 2:
        raise IncompatibleStateError(step, "a pre-release layout of this state format")
    return loaded[1]


class WallTimer:
    """When a step's next wall-clock callback is due (live rows, idle watermarks)."""

    def __init__(self, now: Callable[[], datetime], every_s: float) -> None:
        self._now = now
        self._every = timedelta(seconds=every_s)
        self.due = now() + self._every

    def restart(self) -> None:
        """The callback ran: the next one is a whole interval away."""
        self.due = self._now() + self._every

    def due_within(self, soon: timedelta) -> datetime:
        """The due time, or ``soon`` from now if that is earlier."""
        return min(self.due, self._now() + soon)


class StateLogic(StatefulBatchLogic[Any, Any, bytes], Generic[S]):
    """Base of every stateful adapter: ``self.state`` restored from and saved to the
    versioned snapshot, a wall timer calling :meth:`on_timer` when :meth:`timed`, and
    the end of input calling :meth:`on_end`."""

    flow: ClassVar[str]  # named in dead letters and in IncompatibleStateError

    def __init__(self, cfg: CoreConfig, snapshot: bytes | None) -> None:
        self.cfg = cfg
        self.state: S
        self.timer = WallTimer(cfg.now, cfg.provisional_interval_s)
        self.restore(snapshot)

    # ---- what a subclass provides ------------------------------------------------------

    @abstractmethod
    def new_state(self) -> S:
        """The empty state of a fresh key."""

    def configure(self) -> None:
        """Apply run-level settings to ``self.state`` (restored state may predate them)."""

    def timed(self) -> bool:
        """Whether the step wants :meth:`on_timer` calls."""
        return False

    def on_timer(self) -> Iterable[Any]:
        """Wall-clock timer (live rows); never changes what the final rows will be."""
        return ()

    def on_end(self) -> Iterable[Any]:
        """End of a bounded input."""
        return ()

    # ---- the snapshot payload (a step with more than ``state`` overrides both) ---------

    def payload(self) -> object:
        return self.state

    def adopt(self, payload: Any | None) -> None:
        """Take a restored payload (None: a fresh key)."""
        self.state = self.new_state() if payload is None else payload

    # ---- Bytewax -------------------------------------------------------------------------

    def restore(self, snapshot: bytes | None) -> None:
        self.adopt(None if snapshot is None else load_state(self.flow, snapshot))
        self.configure()

    def snapshot(self) -> bytes:
        return dump_state(self.payload())

    def on_notify(self) -> tuple[Iterable[Any], bool]:
        self.timer.restart()
        return list(self.on_timer()), False

    def notify_at(self) -> datetime | None:
        return self.timer.due if self.timed() else None

    def on_eof(self) -> tuple[Iterable[Any], bool]:
        return list(self.end_of_input()), False

    def end_of_input(self) -> Iterable[Any]:
        """The one end-of-input path; event-time steps first apply what they hold."""
        return self.on_end()
