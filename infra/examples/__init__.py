"""Examples for integrators (not part of the running product)."""
