"""The funnel type and the funnel per seed file."""

from __future__ import annotations

import json
from dataclasses import fields

import polars as pl
import pytest

from influx_etl.funnel import FUNNEL_LABELS, PER_FILE_COLUMNS, Funnel, per_seed_file


def test_every_count_has_one_label_in_funnel_order() -> None:
    assert [key for key, _ in FUNNEL_LABELS] == [f.name for f in fields(Funnel)]
    assert all(label for _, label in FUNNEL_LABELS)
    assert len({label for _, label in FUNNEL_LABELS}) == len(FUNNEL_LABELS)


def test_a_funnel_reads_as_a_mapping_and_round_trips_through_stored_counts() -> None:
    funnel = Funnel(seed_rows=5, looked_up=4, found=3, failed=1, kept=2)
    assert funnel["found"] == 3 and funnel.get("nonsense", 7) == 7
    with pytest.raises(KeyError):
        funnel["nonsense"]
    stored = json.loads(json.dumps(dict(funnel)))
    assert Funnel.from_counts(stored) == funnel == stored
    # a count an older version did not write stays 0; one a newer version wrote is left out
    assert Funnel.from_counts({"kept": 2, "from_the_future": 9}) == Funnel(kept=2)


def test_per_seed_file_counts_a_handle_in_every_file_it_came_from() -> None:
    seeds = pl.DataFrame(
        {
            "handle_key": ["ada", "max", "lise"],
            "seed_files": [["a.csv", "b.csv"], ["a.csv"], ["b.csv"]],
        }
    )
    outcomes = pl.DataFrame(
        {
            "handle_key": ["ada", "max", "lise"],
            "batch_id": [0, None, 0],  # max's fresh stored outcome was reused
            "decision": ["kept", "brand", "not_found"],
        },
        schema_overrides={"batch_id": pl.Int64},
    )
    rejects = pl.DataFrame({"seed_file": ["b.csv", "b.csv"]})
    table = {row["seed_file"]: row for row in per_seed_file(seeds, outcomes, rejects).to_dicts()}
    assert set(table) == {"a.csv", "b.csv"}
    a, b = table["a.csv"], table["b.csv"]
    assert (a["handles"], a["reused"], a["looked_up"], a["kept"], a["brand"]) == (2, 1, 1, 1, 1)
    assert (b["handles"], b["invalid_rows"], b["looked_up"], b["not_found"]) == (2, 2, 2, 1)
    assert list(per_seed_file(seeds, outcomes, rejects).columns) == [
        "seed_file",
        *(key for key, _ in PER_FILE_COLUMNS),
    ]
