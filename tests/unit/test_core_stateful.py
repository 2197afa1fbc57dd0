"""flows.core.stateful.EventTimeLogic: ticks apply after their epoch closes, held items
apply in event-time order interleaved with decisions, sources are combined by minimum,
and a poison item is dead-lettered with the state rolled back as if it never came."""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from flows.config import FlowConfig
from flows.core.clock import Tick
from flows.core.state import IncompatibleStateError, load_state
from flows.core.stateful import EventTimeLogic, Origin
from schemas.results import DeadLetter

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    tenant: str
    at: int
    name: str
    poison: bool = False


@dataclass
class Log:
    applied: list[str] = field(default_factory=list)
    decided: list[tuple[str, int]] = field(default_factory=list)


class Recorder(EventTimeLogic[Log, Item, str]):
    """Records what it applies; raises (after mutating its state) on poison items."""

    flow = "recorder"
    sources = 1

    def new_state(self) -> Log:
        return Log()

    def tenant_of(self, item: Item) -> str:
        return item.tenant

    def order_of(self, item: Item) -> tuple[int, str]:
        return item.at, item.name

    def origin_of(self, item: Item) -> Origin:
        return Origin(3, item.at, None, item.name.encode())

    def tick_sources(self) -> int:
        return self.sources

    def on_item(self, item: Item) -> Iterable[str]:
        self.state.applied.append(item.name)  # mutates before failing
        if item.poison:
            raise OverflowError(f"boom on {item.name}")
        return [f"applied {item.name}"]

    def on_watermark(self, tenant: str, watermark_ms: int) -> Iterable[str]:
        self.state.decided.append((tenant, watermark_ms))
        return []


class Held(Recorder):
    hold = True


def cfg() -> FlowConfig:
    return FlowConfig(events_topic="ev", now=lambda: NOW)


def test_a_tick_waits_for_its_epoch_to_close() -> None:
    logic = Recorder(cfg(), None)
    logic.on_batch([Item("a", 1, "x"), Tick("a", 10)])
    assert logic.state.decided == []
    logic.on_notify()
    assert logic.state.decided == []  # the epoch is still open
    logic.snapshot()
    logic.on_notify()
    assert logic.state.decided == [("a", 10)]
    assert logic.time.watermark("a") == 10
    assert logic.time.watermark("b") < 0


def test_the_minimum_over_all_sources_applies() -> None:
    logic = Recorder(cfg(), None)
    logic.sources = 2
    logic.on_batch([Tick("a", 50, source="0")])
    logic.snapshot()
    logic.on_notify()
    assert logic.state.decided == []  # source 1 has not vouched yet
    logic.on_batch([Tick("a", 20, source="1")])
    logic.snapshot()
    logic.on_notify()
    assert logic.state.decided == [("a", 20)]


def test_held_items_apply_in_event_time_order_interleaved_with_decisions() -> None:
    logic = Held(cfg(), None)
    logic.on_batch([Item("a", 30, "late-sent"), Item("a", 10, "first"), Tick("a", 25)])
    logic.snapshot()
    out = list(logic.on_notify()[0])
    assert out == ["applied first"]
    assert logic.state.decided == [("a", 10), ("a", 25)]  # decided up to 10, then 25
    out = list(logic.on_eof()[0])
    assert out == ["applied late-sent"]


@pytest.mark.parametrize("cls", [Recorder, Held])
def test_a_poison_item_is_dead_lettered_and_the_state_rolls_back(cls: type[Recorder]) -> None:
    logic = cls(cfg(), None)
    logic.on_batch([Item("a", 1, "before")])
    logic.snapshot()  # epoch boundary: the rollback point
    out = list(logic.on_batch([Item("a", 2, "same-epoch"), Item("a", 3, "bad", poison=True)])[0])
    out += list(logic.on_batch([Item("a", 4, "after")])[0])
    out += list(logic.on_eof()[0])
    letters = [o for o in out if isinstance(o, DeadLetter)]
    [letter] = letters
    assert (letter.reason, letter.flow, letter.partition, letter.offset) == (
        "processing_error",
        "recorder",
        3,
        3,
    )
    assert letter.error == "OverflowError: boom on bad"
    assert letter.raw == b"bad"
    assert logic.state.applied == ["before", "same-epoch", "after"]
    restored = cls(cfg(), logic.snapshot())
    assert restored.state.applied == ["before", "same-epoch", "after"]


def test_a_failing_decision_is_recorded_and_the_flow_goes_on() -> None:
    class BadTick(Recorder):
        def on_watermark(self, tenant: str, watermark_ms: int) -> Iterable[str]:
            self.state.decided.append((tenant, watermark_ms))
            if watermark_ms == 13:
                raise ValueError("bad tick")
            return []

    logic = BadTick(cfg(), None)
    logic.on_batch([Tick("a", 13)])
    logic.snapshot()
    [letter] = [o for o in logic.on_notify()[0] if isinstance(o, DeadLetter)]
    assert letter.reason == "processing_error"
    assert "bad tick" in letter.error
    assert logic.state.decided == []  # rolled back
    assert logic.time.watermark("a") < 13
    logic.on_batch([Tick("a", 20), Item("a", 15, "ok")])
    logic.snapshot()
    logic.on_notify()
    assert logic.state.decided == [("a", 20)]
    assert logic.state.applied == ["ok"]


def test_state_and_time_survive_a_snapshot_round_trip() -> None:
    logic = Held(cfg(), None)
    logic.on_batch([Item("a", 5, "x"), Tick("a", 3)])
    snap = logic.snapshot()
    _, time = load_state("held", snap)
    assert time.ready == {"a": 3}
    again = Held(cfg(), snap)
    assert list(again.on_notify()[0]) == []
    assert list(again.on_eof()[0]) == ["applied x"]


def test_a_recovery_store_from_before_the_state_format_is_refused_clearly() -> None:
    old = pickle.dumps((Log(), None))  # what an adapter wrote before STATE_FORMAT 2
    with pytest.raises(IncompatibleStateError, match="move <CXPULSE_DATA_DIR>/recovery aside"):
        Recorder(cfg(), old)
