"""Demand: hourly counts per segment, forecasts, backtests and hotspot alerts per tenant."""
