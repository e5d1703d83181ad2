"""The plan stage: freshness windows, reuse, full batches, caps, and what a plan costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from influx_etl import plan, seeds
from influx_etl.config import DEFAULT_FRESHNESS, PlanSettings
from influx_etl.errors import ConfigError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def seed_frame(handles: list[str]) -> pl.DataFrame:
    return seeds.seeds_from_handles(handles, "x.csv").frame


def checks(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "handle_key": [r[0] for r in rows],
            "outcome": [r[1] for r in rows],
            "checked_at": [iso(r[2]) for r in rows],
        },
        schema={"handle_key": pl.String, "outcome": pl.String, "checked_at": pl.String},
    )


def reused(frame: pl.DataFrame) -> list[str]:
    return sorted(frame.filter(pl.col("reuse"))["handle_key"].to_list())


def test_the_packaged_file_holds_the_defaults() -> None:
    assert plan.load_freshness(DEFAULT_FRESHNESS).windows == plan.DEFAULT_WINDOWS


def test_each_class_is_fresh_for_its_own_window() -> None:
    stored = checks(
        [
            ("found_new", "found", 6.9),
            ("found_old", "found", 7.1),
            ("gone_new", "not_found", 29),
            ("gone_old", "not_found", 31),
            ("banned_new", "suspended", 29),
            ("bad_old", "invalid", 4000),  # until the handle string changes
            ("broke_new", "failed", 0.01),  # never fresh
        ]
    )
    frame = seed_frame([*stored["handle_key"].to_list(), "never_seen"])
    planned = plan.planned_seeds(frame, stored, plan.Freshness(), NOW)
    assert reused(planned) == ["bad_old", "banned_new", "found_new", "gone_new"]


def test_refresh_reuses_nothing_and_forced_keys_are_looked_up() -> None:
    stored = checks([("ann", "found", 1), ("bob", "found", 1)])
    frame = seed_frame(["ann", "bob"])
    assert reused(plan.planned_seeds(frame, stored, plan.Freshness(), NOW, refresh=True)) == []
    forced = pl.Series(["bob"])
    planned = plan.planned_seeds(frame, stored, plan.Freshness(), NOW, forced_keys=forced)
    assert reused(planned) == ["ann"]


def test_overrides_and_a_checked_file(tmp_path: Path) -> None:
    path = tmp_path / "freshness.yml"
    path.write_text("version: 1\nwindows:\n  found: 2\n  invalid: 10\n")
    windows = plan.load_freshness(path, {"not_found": None}).windows
    assert (windows["found"], windows["invalid"], windows["not_found"]) == (2.0, 10.0, None)
    assert windows["suspended"] == plan.DEFAULT_WINDOWS["suspended"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("windows:\n  found: 2\nwindow:\n  found: 3\n", r"\[window\]: unknown key"),
        ("windows:\n  fonud: 2\n", r"\[windows.fonud\]: unknown outcome class"),
        ("windows:\n  found: -1\n", r"\[windows.found\]: expected a number of days"),
        ("windows:\n  found: soon\n", r"\[windows.found\]: expected a number of days"),
        ("windows:\n  failed: 3\n", r"\[windows.failed\]: .* must be 0"),
        ("windows:\n  found: 1\n  found: 2\n", "duplicate key"),
    ],
)
def test_a_bad_freshness_file_names_the_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "freshness.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        plan.load_freshness(path)
    assert str(path) in str(raised.value)


def batches(handles: int, size: int) -> pl.DataFrame:
    from influx_etl import batching

    return batching.batched(seed_frame([f"h{i}" for i in range(handles)]), size)


def deferred_batches(frame: pl.DataFrame) -> list[int]:
    return sorted(frame.filter(pl.col("deferred"))["batch_id"].unique().to_list())


def test_caps_defer_the_batches_beyond_them() -> None:
    nine = batches(18, 2)
    assert deferred_batches(plan.capped_batches(nine, PlanSettings(max_requests=3))) == [
        3,
        4,
        5,
        6,
        7,
        8,
    ]
    # 0.05 USD pays for 5 handles: two whole batches of 2
    by_cost = plan.capped_batches(nine, PlanSettings(max_cost=0.05, price_per_user=0.01))
    assert deferred_batches(by_cost) == [2, 3, 4, 5, 6, 7, 8]
    assert deferred_batches(plan.capped_batches(nine, PlanSettings())) == []
    per_user = plan.capped_batches(nine, PlanSettings(max_requests=5), endpoint="per-user")
    assert deferred_batches(per_user) == [2, 3, 4, 5, 6, 7, 8]  # two handles: two requests


def test_the_plan_counts_requests_windows_time_and_cost() -> None:
    load = seeds.seeds_from_handles([f"h{i}" for i in range(250)] + ["not valid!"], "x.csv")
    stored = checks([("h0", "found", 1), ("h1", "not_found", 1)])
    settings = PlanSettings(rate_limit=2, rate_window_s=900, price_per_user=0.01)
    work = plan.lookup_work(load, stored, settings, 100, NOW)
    p = work.plan
    assert (p.seed_rows, p.invalid_rows, p.distinct, p.reused, p.to_look_up) == (
        251,
        1,
        250,
        2,
        248,
    )
    assert (p.requests, p.sent_requests, p.capped) == (3, 3, False)
    assert (p.windows(), p.least_time_s()) == (2, 900)  # 3 requests at 2 per window
    assert p.cost() == pytest.approx(2.48)
    assert work.batches["batch_id"].value_counts()["count"].sort().to_list() == [48, 100, 100]
    assert sorted(work.reused["handle_key"].to_list()) == ["h0", "h1"]


def test_a_capped_plan_says_what_is_left() -> None:
    load = seeds.seeds_from_handles([f"h{i}" for i in range(18)], "x.csv")
    work = plan.lookup_work(load, checks([]), PlanSettings(max_requests=3), 2, NOW)
    p = work.plan
    assert (p.requests, p.sent_requests, p.left_requests, p.left_handles) == (9, 3, 6, 12)


def test_handles_stored_list_members_answer_cost_no_request_and_come_first() -> None:
    load = seeds.seeds_from_handles([f"h{i}" for i in range(7)], "x.csv")
    stored = checks([("h0", "found", 1)])  # fresh: reused, even though a member object exists
    answers = pl.DataFrame({"handle_key": ["h0", "h1", "h2", "h3", "zz"]})
    settings = PlanSettings(max_requests=1, price_per_user=0.01)
    work = plan.lookup_work(load, stored, settings, 2, NOW, answers=answers)
    p = work.plan
    assert (p.reused, p.from_lists, p.to_look_up, p.requests, p.sent_requests) == (1, 3, 3, 2, 1)
    assert p.cost() == pytest.approx(0.02)  # the one request sent: 2 handles, none from Lists
    batches = work.batches.sort("batch_id")
    assert batches.select("handle_key", "batch_id", "from_lists", "deferred").rows() == [
        ("h1", 0, True, False),
        ("h2", 0, True, False),
        ("h3", 1, True, False),
        ("h4", 2, False, False),
        ("h5", 2, False, False),
        ("h6", 3, False, True),  # beyond the cap of one request
    ]
    assert sorted(work.answers["handle_key"].to_list()) == ["h1", "h2", "h3"]


def test_fresh_since_is_the_oldest_fresh_answer_time() -> None:
    settings = PlanSettings(max_age={"found": 2.0, "invalid": None})
    assert plan.fresh_since(settings, "found", NOW) == iso(2)
    assert plan.fresh_since(settings, "invalid", NOW) is None


def test_combined_seeds_keep_one_row_per_handle_with_every_file() -> None:
    first = seeds.seeds_from_handles(["Ann", "bob"], "a.csv")
    first = seeds.SeedLoad(
        first.frame.with_columns(pl.lit(["a.csv"]).alias("seed_files")),
        first.rejects,
        first.rows_read,
    )
    refresh = seeds.seeds_from_handles(["ann", "cal"], "(refresh)")
    combined = plan.combined_seeds([first, refresh])
    assert combined.frame["handle"].to_list() == ["Ann", "bob", "cal"]
    assert combined.frame["seed_files"].to_list() == [["a.csv"], ["a.csv"], []]
    assert combined.rows_read == 4


def test_durations_read_as_hours_and_minutes() -> None:
    texts = [plan.duration_text(s) for s in (0, 900, 8100, 86400)]
    assert texts == ["0 min", "15 min", "2 h 15 min", "24 h"]
