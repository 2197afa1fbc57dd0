from flows.ops.cadence import Cadence


def test_first_event_sets_the_grid_and_crossings_snapshot_the_latest_point() -> None:
    c = Cadence(60_000)
    assert c.due(30_000) is None  # first event: nothing to show yet
    assert c.due(59_999) is None
    assert c.due(60_000) == 60_000  # crossing the next grid point
    assert c.due(61_000) is None
    assert c.due(600_500) == 600_000  # a quiet gap: only the latest point
    assert c.due(600_900) is None


def test_an_older_event_never_triggers_a_snapshot() -> None:
    c = Cadence(60_000)
    c.due(120_000)
    assert c.due(10_000) is None
    assert c.due(180_000) == 180_000
