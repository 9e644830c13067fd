"""The public twin's table of callers stays bounded, whoever claims to call."""

from scripts.lib.doors.public_gateway import MAX_TRACKED_CALLERS, Callers


def test_the_caller_table_keeps_at_most_its_bound_and_forgets_the_least_recent():
    made = []
    callers = Callers(lambda: made.append(object()) or made[-1])
    first = callers.of("caller-0")
    for number in range(1, MAX_TRACKED_CALLERS):
        callers.of(f"caller-{number}")
    assert len(callers) == MAX_TRACKED_CALLERS
    assert callers.of("caller-0") is first  # used again: now the most recent
    for number in range(MAX_TRACKED_CALLERS, MAX_TRACKED_CALLERS + 5):
        callers.of(f"caller-{number}")
    assert len(callers) == MAX_TRACKED_CALLERS
    assert callers.of("caller-0") is first  # kept: it was used lately
    assert "caller-1" not in callers  # the least recent went first
    assert len(made) == MAX_TRACKED_CALLERS + 5
