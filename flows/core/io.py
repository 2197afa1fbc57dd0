"""The ports a dataflow needs: one source and typed sinks, injected by the runner.

Flows never create clients; the runner hands them Bytewax sources and sinks, so a test
can swap in real Kafka/ClickHouse or in-memory ones without touching the wiring. The
outputs are the keys of :mod:`flows.core.outputs`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from bytewax.inputs import Source
from bytewax.outputs import Sink

from flows.core.outputs import SinkKey
from schemas.transport import RawMessage

T = TypeVar("T")


class FlowIO(Protocol):
    def source(self) -> Source[RawMessage]: ...

    def rules_source(self) -> Source[RawMessage]:
        """Changes of the API's threshold rules (the rules topic; see flows/ops/flow.py)."""
        ...

    def sink(self, key: SinkKey[T]) -> Sink[T]: ...
