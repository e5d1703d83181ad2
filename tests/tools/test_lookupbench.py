"""The lookup benchmark's layouts and its planned comparison (not a timed test)."""

from __future__ import annotations

from influx_etl.tools import lookupbench

REAL = [["a", "b", "c"], ["b", "d"], ["a", "e", "f", "g"]]


def test_drawn_layouts_take_their_sizes_from_the_real_files_and_repeat_handles() -> None:
    layout = lookupbench.drawn_layout(REAL, 200, seed=1)
    assert len(layout) == 200
    assert {len(f) for f in layout} <= {1, 2, 3, 4}  # a repeat within a file may shrink it
    assert lookupbench.drawn_layout(REAL, 200, seed=1) == layout
    rows = sum(len(f) for f in layout)
    assert len({h for f in layout for h in f}) < rows  # some handles are in several files


def test_per_file_runs_pay_again_for_what_one_plan_asks_once() -> None:
    per_file, whole = lookupbench.planned(REAL, "real", batch_size=2)
    assert (per_file.requests, per_file.lookups, per_file.duplicates) == (2 + 1 + 2, 9, 2)
    assert (whole.requests, whole.lookups, whole.duplicates) == (4, 7, 0)
    lines = lookupbench.table([per_file, whole], lookupbench.PlanSettings())
    assert "| real | one plan (planned) | 4 | 7 | 0 |" in lines[3]
