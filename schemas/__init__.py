"""Typed contracts of cxpulse: input events, result rows, alerts."""
