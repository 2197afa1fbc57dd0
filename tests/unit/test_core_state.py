"""flows.core.state: every stateful step of the pipeline restores through the one
versioned codec, and refuses a recovery store it cannot resume with what to do."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flows.config import FlowConfig
from flows.core.state import STATE_FORMAT, IncompatibleStateError, dump_state, load_state
from flows.ingest.dedup import Deduplicator
from flows.pipeline import build_flow
from tests.unit.helpers import MemoryIO

REPLAY = "move <CXPULSE_DATA_DIR>/recovery aside"

# (STATE_FORMAT, <an instance of flows.stateful_ops.X>), written opcode by opcode: a class
# path of a module that no longer exists cannot be pickled from here.
GONE_MODULE = (
    b"\x80\x02"  # PROTO 2
    + b"K" + bytes([STATE_FORMAT])  # BININT1
    + b"cflows.stateful_ops\nX\n"  # GLOBAL
    + b")\x81"  # EMPTY_TUPLE, NEWOBJ
    + b"\x86."  # TUPLE2, STOP
)  # fmt: skip
# ... and of a class gone from a module that still exists.
GONE_CLASS = GONE_MODULE.replace(b"flows.stateful_ops\nX\n", b"flows.core.clock\nGone\n")


def _stateful_steps() -> Iterator[tuple[str, Callable[[bytes | None], Any]]]:
    """(step id, builder) of every ``stateful_batch`` step of the whole pipeline."""
    todo: list[Any] = [build_flow(FlowConfig(), MemoryIO([], 1))]
    while todo:
        step = todo.pop()
        if type(step).__name__ == "stateful_batch":
            yield step.step_id, step.builder
        subs = getattr(step, "substeps", ())
        todo.extend(subs.values() if isinstance(subs, dict) else subs)


STEPS = sorted(_stateful_steps())


def test_the_pipeline_has_the_stateful_steps_this_file_checks() -> None:
    names = {step_id.removeprefix("cxpulse.") for step_id, _ in STEPS}
    assert {"dedup", "partition_clock", "tenant_clocks", "kb_clusters", "demand"} <= names
    assert {"complaint_alerts", "routing"} <= names
    assert len(STEPS) == 13


@pytest.mark.parametrize(("step_id", "build"), STEPS, ids=[s for s, _ in STEPS])
def test_every_stateful_step_round_trips_its_snapshot(
    step_id: str, build: Callable[[bytes | None], Any]
) -> None:
    saved = build(None).snapshot()
    assert load_state(step_id, saved) is not None
    assert build(saved).snapshot() == saved


@pytest.mark.parametrize(("step_id", "build"), STEPS, ids=[s for s, _ in STEPS])
@pytest.mark.parametrize(
    ("snapshot", "why"),
    [
        (pickle.dumps((2, None, None)), "state format 2"),
        (pickle.dumps((2, None)), "state format 2"),
        (pickle.dumps((3, None)), "state format 3"),
        (pickle.dumps((4, None)), "state format 4"),
        (pickle.dumps((5, None)), "state format 5"),
        (pickle.dumps((6, None)), "state format 6"),
        (pickle.dumps((7, None)), "state format 7"),
        (pickle.dumps((10, None)), "state format 10"),
        (pickle.dumps(Deduplicator(1000)), "before versioned state"),
        (GONE_MODULE, "no longer imports: No module named 'flows.stateful_ops'"),
        (GONE_CLASS, "no longer imports"),
        (b"not a pickle", "unreadable snapshot"),
    ],
    ids=[
        "format-2",
        "format-2-pair",
        "format-3",
        "format-4",
        "format-5",
        "format-6",
        "format-7",
        "format-10",
        "unversioned",
        "gone-module",
        "gone-class",
        "garbage",
    ],
)
def test_every_stateful_step_refuses_a_store_it_cannot_resume(
    step_id: str, build: Callable[[bytes | None], Any], snapshot: bytes, why: str
) -> None:
    with pytest.raises(IncompatibleStateError, match=REPLAY) as caught:
        build(snapshot)
    assert why in caught.value.why
    assert "replays the events topic from its start into a fresh store" in str(caught.value)


def test_the_codec_is_a_versioned_pair() -> None:
    assert pickle.loads(dump_state({"a": 1})) == (STATE_FORMAT, {"a": 1})
    assert load_state("x", dump_state([1, 2])) == [1, 2]
