"""The source types: the one classification of API error entries."""

from __future__ import annotations

from influx_etl.sources import PROBLEM_INVALID, PROBLEM_NOT_FOUND, error_outcome


def test_error_entries_decide_outcomes() -> None:
    assert error_outcome({"title": "Forbidden", "detail": "User has been suspended: [x]."}) == (
        "suspended"
    )
    assert error_outcome({"type": PROBLEM_NOT_FOUND, "title": "Not Found Error"}) == "not_found"
    assert error_outcome({"type": PROBLEM_INVALID}) == "invalid"
    assert error_outcome({"title": "Service Unavailable", "type": "about:blank"}) == "failed"
