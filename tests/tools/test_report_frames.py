"""The report's tables: the funnel, the batch timeline and the outcomes per seed file."""

from __future__ import annotations

import polars as pl

from influx_etl.tools.report_frames import batch_timeline, funnel_stages, seed_file_outcomes


def test_funnel_stages_take_each_filter_off_in_turn() -> None:
    counts = {"seed_rows": 10, "looked_up": 9, "found": 8, "below_threshold": 3, "brand": 1}
    counts |= {"risk": 1, "banned": 1, "kept": 2, "invalid_records": 0, "new": 2}
    stages = dict(funnel_stages(counts).iter_rows())
    assert stages["above the entry threshold"] == 5
    assert stages["not a brand / official"] == 4
    assert stages["not risky"] == 3
    assert stages["kept (not banned)"] == 2


def test_batch_timeline_finds_the_time_no_request_was_in_flight() -> None:
    batches = pl.DataFrame(
        {
            "batch_id": [0, 1, 2, 3],
            "handles": [2, 2, 2, 1],
            # 0 and 1 overlap (two workers); 2 waits 1.0 s after 1 answered; 3 follows at once
            "requested_at": [
                "2026-01-01T00:00:00.000Z",
                "2026-01-01T00:00:00.100Z",
                "2026-01-01T00:00:01.600Z",
                "2026-01-01T00:00:01.700Z",
            ],
            "elapsed_s": [0.3, 0.5, 0.1, 0.1],
        }
    )
    timeline = batch_timeline(batches)
    assert timeline["start_s"].to_list() == [0.0, 0.1, 1.6, 1.7]
    assert timeline["idle_before_s"].round(3).to_list() == [0.0, 0.0, 1.0, 0.0]
    assert timeline.sort("done_s")["handles_done"].to_list() == [2, 4, 6, 7]


def test_seed_file_outcomes_count_decisions_and_rates() -> None:
    outcomes = pl.DataFrame(
        {
            "seed_file": ["a.csv", "a.csv", "a.csv", "a.csv", "b.csv"],
            "outcome": ["found", "found", "not_found", "suspended", "found"],
            "decision": ["kept", "brand", "not_found", "suspended", "kept"],
        }
    )
    rejects = pl.DataFrame({"seed_file": ["b.csv", "c.csv"], "rejected": [2, 1]})
    table = seed_file_outcomes(outcomes, rejects)
    rows = {row["seed_file"]: row for row in table.iter_rows(named=True)}
    assert rows["a.csv"]["handles"] == 4 and rows["a.csv"]["kept"] == 1
    assert rows["a.csv"]["not_found_rate"] == 0.25 and rows["a.csv"]["suspended_rate"] == 0.25
    assert rows["b.csv"]["rejected"] == 2
    assert rows["c.csv"]["handles"] == 0 and rows["c.csv"]["rejected"] == 1  # all rows bad
    assert table.columns[:6] == ["seed_file", "handles", "kept", "brand", "not_found", "suspended"]
