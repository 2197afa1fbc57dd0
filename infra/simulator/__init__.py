"""Seeded, deterministic traffic simulator for customer-operations events.

One seed always yields the same byte-identical stream. Modules, bottom up: ``timeline``
(integer-ms time, volume profile), ``config`` (:class:`SimConfig`), ``vocabulary``
(texts, categories, weighted choices), ``entities`` (mutable world state), ``engine``
(the event heap), ``traffic`` (random lifecycles), ``stories`` (scripted demo stories),
``simulation`` (:class:`Simulator`) and ``invalid`` (broken messages for the DLQ demo).
"""

from infra.simulator.config import SimConfig
from infra.simulator.invalid import invalid_samples
from infra.simulator.simulation import Simulator
from infra.simulator.timeline import demand_multiplier

__all__ = ["SimConfig", "Simulator", "demand_multiplier", "invalid_samples"]
