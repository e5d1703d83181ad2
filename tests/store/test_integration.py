"""A run's integration: outcomes settled, authors merged, one transaction."""

from __future__ import annotations

import polars as pl
import pytest

from influx_etl.errors import StoreError
from influx_etl.frames import OUTCOMES_SCHEMA
from influx_etl.sources import RawBatch
from influx_etl.store import ROW_GROUP_ROWS, Store
from tests.store.rows import NO_IDS, NO_REJECTS, author, authors, outcomes


def test_live_dataset_refuses_profiles_from_the_embedded_server(store: Store) -> None:
    synthetic = authors(author("1", "alice", origin="synthetic"))
    with pytest.raises(StoreError, match="synthetic dataset"):
        store.integrate("r1", outcomes(), synthetic, NO_IDS, NO_REJECTS)
    assert store.authors().is_empty()


def test_rerun_with_the_same_authors_changes_nothing(store: Store) -> None:
    first = authors(author("1", "alice"), author("2", "bob"))
    assert store.integrate("r1", outcomes(), first, NO_IDS, NO_REJECTS).new == 2
    # a later lookup of the same profiles: only the fetch time differs
    again = first.with_columns(last_refresh_at=pl.lit("2026-02-01T00:00:00Z"))
    result = store.integrate("r2", outcomes(), again, NO_IDS, NO_REJECTS)
    assert (result.new, result.updated, result.unchanged, result.removed) == (0, 0, 2, 0)
    assert store.authors().height == 2


def test_a_renamed_handle_updates_the_row_keyed_by_id(store: Store) -> None:
    store.integrate("r1", outcomes(), authors(author("1", "alice")), NO_IDS, NO_REJECTS)
    result = store.integrate("r2", outcomes(), authors(author("1", "alice_v2")), NO_IDS, NO_REJECTS)
    assert (result.new, result.updated) == (0, 1)
    assert store.authors().select("id", "handle").rows() == [("1", "alice_v2")]


def test_a_reused_handle_replaces_the_stale_row(store: Store) -> None:
    store.integrate("r1", outcomes(), authors(author("1", "alice")), NO_IDS, NO_REJECTS)
    # id 1 renamed away; a different account (id 9) now holds "Alice"
    result = store.integrate("r2", outcomes(), authors(author("9", "Alice")), NO_IDS, NO_REJECTS)
    assert (result.new, result.removed) == (1, 1)
    assert store.authors()["id"].to_list() == ["9"]


def test_rejected_authors_leave_the_dataset(store: Store) -> None:
    store.integrate(
        "r1", outcomes(), authors(author("1", "alice"), author("2", "bob")), NO_IDS, NO_REJECTS
    )
    result = store.integrate("r2", outcomes(), authors(), pl.Series(["2"]), NO_REJECTS)
    assert result.removed == 1
    assert store.authors()["id"].to_list() == ["1"]


def test_a_failed_integration_leaves_the_dataset_as_it_was(store: Store) -> None:
    store.integrate(
        "r1",
        outcomes(("alice", "found", "kept")),
        authors(author("1", "alice")),
        NO_IDS,
        NO_REJECTS,
    )
    before = store.authors()
    # two authors with one id violate the authors' key after the outcomes were written: the
    # transaction must roll back all of it
    with pytest.raises(StoreError, match="integrating run r2"):
        store.integrate(
            "r2",
            outcomes(("bob", "found", "kept")),
            authors(author("1", "alice", followers=1), author("2", "bob"), author("2", "bob")),
            NO_IDS,
            NO_REJECTS,
        )
    assert store.authors().equals(before)
    assert store.handle_outcomes("r2").is_empty()


def test_outcomes_added_in_chunks_keep_the_last_answer_per_handle(store: Store) -> None:
    with store.run_integration("r1") as integration:
        integration.add_outcomes(
            outcomes(("alice", "found", "kept", "1"), ("bob", "found", "kept", "2"))
        )
        integration.add_authors(authors(author("1", "alice"), author("2", "bob")), part=0)
        integration.add_outcomes(outcomes(("carol", "not_found", "not_found")))
        # a later chunk answers bob again (a file that holds him twice): that answer wins
        integration.add_outcomes(outcomes(("bob", "found", "below_threshold", "2")))
        assert integration.settle() == 1
        assert integration.keep_settled_authors().is_empty()  # no invalid record remains
        counts = integration.counts()
        assert counts.total == 3
        assert counts.outcomes == {"found": 2, "not_found": 1}
        assert counts.decisions == {"kept": 1, "below_threshold": 1, "not_found": 1}
        integration.merge_authors(NO_REJECTS)
    stored = store.handle_outcomes("r1").sort("handle_key")
    assert stored.select("handle_key", "decision").rows() == [
        ("alice", "kept"),
        ("bob", "below_threshold"),
        ("carol", "not_found"),
    ]
    assert store.authors()["handle"].to_list() == ["alice"]


def test_a_later_part_supersedes_an_earlier_author_valid_or_not(store: Store) -> None:
    """alice: invalid, then valid again later; bob: valid, then invalid later; carol: once."""
    with store.run_integration("r1") as integration:
        both = outcomes(("alice", "found", "kept", "1"), ("bob", "found", "kept", "2"))
        integration.add_outcomes(both)
        integration.add_authors(
            authors(author("1", "alice"), author("2", "bob", followers=1)),
            part=0,
            invalid_ids=pl.Series(["1"]),
        )
        integration.add_outcomes(outcomes(("carol", "found", "kept", "3")))
        integration.add_authors(authors(author("3", "carol")), part=1)
        integration.add_outcomes(both)
        integration.add_authors(
            authors(author("1", "alice", followers=7), author("2", "bob", followers=9)),
            part=2,
            invalid_ids=pl.Series(["2"]),
        )
        assert integration.settle() == 2
        remaining = integration.keep_settled_authors()
        assert remaining.rows() == [("2", 2)]  # bob's last record is the invalid one
        integration.merge_authors(NO_REJECTS)
    merged = store.authors().sort("id")
    assert merged.select("handle", "followers_count").rows() == [("alice", 7), ("carol", 100_000)]


def test_outcomes_added_in_parts_are_written_in_whole_row_groups(store: Store) -> None:
    """Parts of 150,000 rows: each INSERT of its own would leave a partly filled row group
    behind (six groups), which the next checkpoint rewrites; held back to whole groups, four."""
    part_rows = 150_000
    with store.run_integration("r1") as integration:
        for part in range(3):
            handles = pl.int_range(part * part_rows, (part + 1) * part_rows, eager=True)
            integration.add_outcomes(
                pl.DataFrame(
                    {"handle_key": handles.cast(pl.String), "outcome": "not_found"}
                ).select(
                    pl.col(name)
                    if name in ("handle_key", "outcome")
                    else pl.lit(None, dtype).alias(name)
                    for name, dtype in OUTCOMES_SCHEMA.items()
                )
            )
        assert integration.counts().total == 3 * part_rows  # the rows held back are counted
    row_groups = store._con.sql(
        "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('handle_outcomes')"
    ).fetchall()[0][0]
    assert row_groups == -(-3 * part_rows // ROW_GROUP_ROWS)
    assert store.handle_outcomes("r1").height == 3 * part_rows


def test_outcomes_held_back_are_written_when_the_integration_ends(store: Store) -> None:
    with store.run_integration("r1") as integration:
        integration.add_outcomes(outcomes(("alice", "found", "kept", "1")))
    assert store.handle_outcomes("r1")["handle_key"].to_list() == ["alice"]


def test_an_interrupted_chunked_integration_writes_nothing(store: Store) -> None:
    with pytest.raises(KeyboardInterrupt), store.run_integration("r1") as integration:
        integration.add_outcomes(outcomes(("alice", "found", "kept")))
        raise KeyboardInterrupt
    assert store.handle_outcomes("r1").is_empty()


def test_seed_files_and_topics_accumulate_across_runs(store: Store) -> None:
    store.integrate(
        "r1",
        outcomes(),
        authors(author("1", "alice", seed_files=["a.csv"], topic_tags=["ai"])),
        NO_IDS,
        NO_REJECTS,
    )
    store.integrate(
        "r2",
        outcomes(),
        authors(author("1", "alice", seed_files=["b.csv"], topic_tags=["vc"])),
        NO_IDS,
        NO_REJECTS,
    )
    row = store.authors().row(0, named=True)
    assert row["seed_files"] == ["a.csv", "b.csv"]
    assert row["topic_tags"] == ["ai", "vc"]


def test_each_distinct_lookup_leaves_a_snapshot(store: Store) -> None:
    def at(when: str, followers: int) -> pl.DataFrame:
        source = [{"method": "x-api-v2", "fetched_at": when, "evidence": "test"}]
        return authors(
            author("1", "alice", followers=followers, sources=source, last_refresh_at=when)
        )

    store.integrate("r1", outcomes(), at("2026-01-01T00:00:00Z", 100_000), NO_IDS, NO_REJECTS)
    store.integrate("r2", outcomes(), at("2026-02-01T00:00:00Z", 120_000), NO_IDS, NO_REJECTS)
    store.integrate(
        "r3", outcomes(), at("2026-02-01T00:00:00Z", 120_000), NO_IDS, NO_REJECTS
    )  # a replay
    snapshots = store.snapshots("1")
    assert snapshots.select("fetched_at", "followers_count").rows() == [
        ("2026-01-01T00:00:00Z", 100_000),
        ("2026-02-01T00:00:00Z", 120_000),
    ]


def test_the_staged_authors_do_not_outlive_the_run(store: Store) -> None:
    store.integrate("r1", outcomes(), authors(author("1", "alice")), NO_IDS, NO_REJECTS)
    staged = store._con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'run_authors'"
    ).fetchall()
    assert staged == [(0,)]
    assert store.authors()["handle"].to_list() == ["alice"]


def test_one_id_answering_two_handles_keeps_one_author_and_marks_the_other(store: Store) -> None:
    """Both handles found with id 1 (in two chunks); the batches were fetched at different
    times: the later fetch keeps the id, the other handle is ``duplicate_id`` naming it."""
    store.begin_run("r1", "2026-01-01T00:00:00Z", "x-api", {})
    for batch_id, at in ((0, "2026-01-01T00:00:05Z"), (1, "2026-01-01T00:00:09Z")):
        answer = RawBatch(batch_id, (), at, 200, "{}", default_origin="x-api-v2")
        store.save_raw_batch("r1", answer)

    def found(handle: str, batch_id: int) -> pl.DataFrame:
        row = outcomes((handle, "found", "kept", "1"), ("carol", "found", "kept", "3"))
        return row.with_columns(batch_id=pl.lit(batch_id, pl.Int64), username=pl.col("handle"))

    with store.run_integration("r1") as integration:
        integration.add_outcomes(found("NewName", 1).head(1))
        integration.add_authors(authors(author("1", "NewName")), part=0)
        integration.add_outcomes(found("old_name", 0))
        integration.add_authors(authors(author("1", "old_name"), author("3", "carol")), part=1)
        assert integration.settle() == 1
        assert integration.keep_settled_authors().is_empty()
        counts = integration.counts()
        assert counts.outcomes == {"found": 2, "duplicate_id": 1}
        result = integration.merge_authors(NO_REJECTS)
    assert result.new == 2
    assert store.authors().select("id", "handle").rows() == [("1", "NewName"), ("3", "carol")]
    stored = store.handle_outcomes("r1").sort("handle_key")
    loser = stored.filter(pl.col("handle_key") == "old_name").row(0, named=True)
    assert (loser["outcome"], loser["decision"]) == ("duplicate_id", "duplicate_id")
    assert "@NewName" in loser["outcome_detail"] and "id 1" in loser["outcome_detail"]
    assert stored.height == 3  # every handle keeps an outcome


def test_the_answer_whose_username_is_the_handle_asked_for_keeps_the_id(store: Store) -> None:
    """Fetched together (no raw batch times): the username decides before the handle order."""
    asked = outcomes(("alpha", "found", "kept", "1"), ("beta", "found", "kept", "1"))
    asked = asked.with_columns(username=pl.Series(["someone_else", "Beta"]))
    with store.run_integration("r1") as integration:
        integration.add_outcomes(asked)
        integration.add_authors(authors(author("1", "alpha"), author("1", "beta")))
        assert integration.settle() == 1
        integration.keep_settled_authors()
        integration.merge_authors(NO_REJECTS)
    assert store.authors().select("id", "handle").rows() == [("1", "beta")]
    decisions = dict(store.handle_outcomes("r1").select("handle_key", "decision").rows())
    assert decisions == {"alpha": "duplicate_id", "beta": "kept"}
