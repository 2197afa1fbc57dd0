"""Reproducible benchmarks (not timed tests): they print ratios measured in one run."""
