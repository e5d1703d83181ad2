"""The API format's Polars types: error entries classified as columns as one entry is."""

from __future__ import annotations

from typing import Any

import polars as pl

from influx_etl.sources import PROBLEM_INVALID, PROBLEM_NOT_FOUND, error_outcome
from influx_etl.sources.response import ERROR_DTYPE, error_outcome_expr

ENTRIES: list[dict[str, Any]] = [
    {"title": "Forbidden", "detail": "User has been suspended: [x].", "type": None},
    {"title": None, "detail": "Account SUSPENDED", "type": "about:blank"},
    {"title": "Not Found Error", "detail": None, "type": PROBLEM_NOT_FOUND},
    {"title": None, "detail": None, "type": PROBLEM_NOT_FOUND},
    {"title": "Invalid Request", "detail": "bad", "type": None},
    {"title": None, "detail": None, "type": PROBLEM_INVALID},
    {"title": "Not Found Error", "detail": "User has been suspended", "type": PROBLEM_INVALID},
    {"title": "Service Unavailable", "detail": "try later", "type": "about:blank"},
    {"title": None, "detail": None, "type": None},
]


def test_the_expression_classifies_every_entry_as_error_outcome_does() -> None:
    frame = pl.DataFrame(ENTRIES, schema=ERROR_DTYPE.to_schema())
    by_columns = frame.select(error_outcome_expr().alias("outcome"))["outcome"].to_list()
    by_entry = [error_outcome({k: v for k, v in e.items() if v is not None}) for e in ENTRIES]
    assert by_columns == by_entry
    assert set(by_entry) == {"suspended", "not_found", "invalid", "failed"}
