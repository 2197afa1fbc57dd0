"""Routing recommendation (issue #15): the best available agents for new work."""
