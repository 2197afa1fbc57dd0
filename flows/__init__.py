"""Bytewax dataflows (thin wiring) and the pure domain logic they run."""
