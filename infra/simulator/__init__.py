"""Seeded, deterministic traffic simulator for customer-operations events."""

from infra.simulator.traffic import (
    _BROWSERS,
    _CATEGORIES,
    _INTEGRATIONS,
    _PLANS,
    _PRODUCTS,
    SimConfig,
    Simulator,
    demand_multiplier,
    invalid_samples,
)

__all__ = [
    "_BROWSERS",
    "_CATEGORIES",
    "_INTEGRATIONS",
    "_PLANS",
    "_PRODUCTS",
    "SimConfig",
    "Simulator",
    "demand_multiplier",
    "invalid_samples",
]
