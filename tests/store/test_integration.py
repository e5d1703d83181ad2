"""The DuckDB dataset file: migration, the live/synthetic guard, integration semantics."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from influx_etl import store as store_module
from influx_etl.errors import StoreError
from influx_etl.frames import AUTHORS_SCHEMA, OUTCOMES_SCHEMA, SEED_REJECTS_SCHEMA
from influx_etl.sources import RawBatch
from influx_etl.store import ROW_GROUP_ROWS, SCHEMA_VERSION, Store
from tests.conftest import REPO_ROOT


def author(user_id: str, handle: str, followers: int = 100_000, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(AUTHORS_SCHEMA)
    row.update(
        id=user_id,
        handle=handle,
        name=handle.title(),
        verified="blue",
        followers_count=followers,
        is_org=False,
        is_official=False,
        lang_primary="en",
        topic_tags=["ai_research"],
        sources=[{"method": "x-api-v2", "fetched_at": "2026-01-01T00:00:00Z", "evidence": "test"}],
        provenance_hash="a" * 64,
        last_refresh_at="2026-01-01T00:00:00Z",
        entry_threshold_passed=True,
        origin="x-api-v2",
        seed_files=["a.csv"],
        brand_matches=[],
        brand_confidence=0.0,
        risk_flags=[],
        score=50.0,
        quality_score=40.0,
    )
    row.update(changes)
    return row


def authors(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=AUTHORS_SCHEMA)


def outcomes(*rows: tuple[str, ...]) -> pl.DataFrame:
    """Outcome rows (handle, outcome, decision[, id]); the rule columns stay null."""
    return pl.DataFrame(
        [
            {
                **dict.fromkeys(OUTCOMES_SCHEMA),
                "handle_key": handle.lower(),
                "handle": handle,
                "outcome": outcome,
                "decision": decision,
                "id": user_id[0] if user_id else None,
            }
            for handle, outcome, decision, *user_id in rows
        ],
        schema=OUTCOMES_SCHEMA,
    )


NO_REJECTS = pl.DataFrame(schema=SEED_REJECTS_SCHEMA)
NO_IDS = pl.Series("id", [], dtype=pl.String)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store.open(tmp_path / "data" / "influx.duckdb", "live") as opened:
        yield opened


def test_a_new_file_is_created_at_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "influx.duckdb"
    with Store.open(path, "live") as store:
        assert store.schema_version == SCHEMA_VERSION
    with Store.open(path, "live") as reopened:  # reopening migrates nothing and keeps the kind
        assert reopened.schema_version == SCHEMA_VERSION


def test_live_and_synthetic_data_never_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "influx.duckdb"
    Store.open(path, "simulated").close()
    with pytest.raises(StoreError, match="simulated dataset"):
        Store.open(path, "live")


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


def test_bulk_batches_keep_each_batch_whole_and_in_order_across_insert_slices(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # slices of 3 rows at most, cut only between batches: batch 1 (4 handles) spans a slice
    monkeypatch.setattr(store_module, "INSERT_SLICE_ROWS", 3)
    batches = pl.DataFrame(
        {
            "batch_id": [0, 0, 1, 1, 1, 1, 2],
            "handle": ["b", "a", "d", "c", "f", "e", "g"],
        }
    )
    answer = RawBatch(-1, (), "2026-01-01T00:00:01Z", 200, None, default_origin="prefetched")
    store.begin_run("r1", "2026-01-01T00:00:00Z", "prefetched", {})
    store.save_bulk_batches("r1", batches, answer)
    stored = store.raw_lookups("r1")
    assert stored.select("batch_id", "handles").rows() == [
        (0, ["b", "a"]),
        (1, ["d", "c", "f", "e"]),
        (2, ["g"]),
    ]
    assert stored["default_origin"].to_list() == ["prefetched"] * 3
    # a batch id stored before is refused, and the transaction leaves nothing of the second call
    with pytest.raises(StoreError, match="cannot store raw lookups of run r1"):
        store.save_bulk_batches("r1", batches.with_columns(pl.col("batch_id") + 2), answer)
    assert store.raw_lookups("r1")["batch_id"].to_list() == [0, 1, 2]


def test_raw_batches_are_committed_as_they_arrive(tmp_path: Path) -> None:
    path = tmp_path / "influx.duckdb"
    with Store.open(path, "live") as store:
        store.begin_run("r1", "2026-01-01T00:00:00Z", "x-api", {"batch_size": 2})
        store.save_raw_batch(
            "r1",
            RawBatch(
                0,
                ("a", "b"),
                "2026-01-01T00:00:01Z",
                200,
                '{"data": []}',
                rate_limit={"x-rate-limit-remaining": "299"},
            ),
        )
    # read back from another connection: the batch is on disk, not in a pending transaction
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("SELECT batch_id, handles, status, rate_limit FROM raw_lookups").fetchall()
    con.close()
    assert rows == [(0, ["a", "b"], 200, '{"x-rate-limit-remaining": "299"}')]


def test_runs_record_their_arguments_and_outcome(store: Store) -> None:
    store.begin_run("r1", "2026-01-01T00:00:00Z", "embedded", {"batch_size": 75})
    store.finish_run("r1", "2026-01-01T00:01:00Z", "succeeded", {"kept": 3})
    run = store.runs().row(0, named=True)
    assert run["status"] == "succeeded" and '"kept": 3' in run["counts"]


def test_a_version_1_file_is_migrated_forward_keeping_its_authors(tmp_path: Path) -> None:
    from influx_etl.store import _MIGRATIONS

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(_MIGRATIONS[1])
    con.execute("INSERT INTO dataset_info VALUES ('kind', 'live'), ('schema_version', '1')")
    con.close()
    con = duckdb.connect(str(path))
    con.execute(
        "INSERT INTO authors (id, handle, name, handle_key, first_seen_run, last_changed_run, "
        "last_refresh_at) VALUES ('9', 'old', 'Old', 'old', 'r0', 'r0', '2025-01-01T00:00:00Z')"
    )
    con.close()
    with Store.open(path, "live") as store:  # opening migrates the file forward
        assert store.schema_version == SCHEMA_VERSION == 5
        assert store.stale_handles("2026-01-01T00:00:00Z") == ["old"]  # last_checked_at filled
        store.integrate("r1", outcomes(), authors(author("1", "alice")), NO_IDS, NO_REJECTS)
        assert store.snapshots("1").height == 1
        assert store.banned().is_empty()


def test_a_version_2_file_keeps_its_outcomes_and_loses_only_their_key(tmp_path: Path) -> None:
    from influx_etl.store import _MIGRATIONS

    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    con.execute(_MIGRATIONS[1])
    con.execute(_MIGRATIONS[2])
    con.execute("INSERT INTO dataset_info VALUES ('kind', 'live'), ('schema_version', '2')")
    con.execute(
        "INSERT INTO runs (run_id, started_at, status, source) "
        "VALUES ('r0', '2026-01-01T00:00:00Z', 'succeeded', 'x-api')"
    )
    con.execute(
        "INSERT INTO handle_outcomes (run_id, handle_key, handle, outcome, decision, "
        "brand_matches) VALUES ('r0', 'acme', 'Acme', 'found', 'brand', ['brand.name'])"
    )
    con.close()
    with Store.open(path, "live") as store:
        assert store.schema_version == SCHEMA_VERSION
        kept = store.handle_outcomes("r0")
        assert kept.select("handle", "decision", "brand_matches").rows() == [
            ("Acme", "brand", ["brand.name"])
        ]
    con = duckdb.connect(str(path))
    # the audit view is back, and the table has no primary key any more
    assert con.execute("SELECT handle FROM flagged_accounts").fetchall() == [("Acme",)]
    constraints = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'handle_outcomes' "
        "AND constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    con.close()
    assert constraints == [(0,)]


def test_a_version_3_file_keeps_its_seeds_and_outcomes_with_identifiers_uncompressed(
    tmp_path: Path,
) -> None:
    from influx_etl.store import _MIGRATIONS

    path = tmp_path / "v3.duckdb"
    con = duckdb.connect(str(path))
    for version in (1, 2, 3):
        con.execute(_MIGRATIONS[version])
    con.execute("INSERT INTO dataset_info VALUES ('kind', 'live'), ('schema_version', '3')")
    con.execute(
        "INSERT INTO runs (run_id, started_at, status, source) "
        "VALUES ('r0', '2026-01-01T00:00:00Z', 'succeeded', 'x-api')"
    )
    con.execute(
        "INSERT INTO handle_outcomes (run_id, handle_key, handle, outcome, decision, id, "
        "brand_matches) VALUES ('r0', 'acme', 'Acme', 'found', 'brand', '7', ['brand.name'])"
    )
    con.execute(
        "INSERT INTO run_seeds (run_id, handle, handle_key, seed_file, line, batch_id) "
        "VALUES ('r0', 'Acme', 'acme', 'a.txt', 1, 0)"
    )
    con.close()
    with Store.open(path, "live") as store:
        assert store.schema_version == SCHEMA_VERSION == 5
        assert store.handle_outcomes("r0").select("handle", "id", "brand_matches").rows() == [
            ("Acme", "7", ["brand.name"])
        ]
        assert store.run_seeds("r0").select("handle", "line").rows() == [("Acme", 1)]
        # rows written from now on keep the identifiers as they are
        store.begin_run("r1", "2026-01-02T00:00:00Z", "x-api", {}, seeds=store.run_seeds("r0"))
        with store.run_integration("r1") as integration:
            integration.add_outcomes(outcomes(("bob", "found", "kept", "2")))
        store._con.execute("CHECKPOINT")
        compression = store._con.sql(
            "SELECT DISTINCT table_name, column_name, compression FROM ("
            "  SELECT 'handle_outcomes' AS table_name, *"
            "  FROM pragma_storage_info('handle_outcomes')"
            "  UNION ALL SELECT 'run_seeds', * FROM pragma_storage_info('run_seeds'))"
            " WHERE column_name IN ('handle_key', 'handle', 'id', 'username')"
            " AND segment_type = 'VARCHAR' AND compression NOT IN ('Constant', 'Empty Validity')"
        ).fetchall()
    assert {(table, column) for table, column, _ in compression} >= {
        ("handle_outcomes", "handle_key"),
        ("handle_outcomes", "handle"),
        ("run_seeds", "handle"),
    }
    assert {kind for _, _, kind in compression} == {"Uncompressed"}
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT handle FROM flagged_accounts").fetchall() == [("Acme",)]
    con.close()


def test_a_banned_author_leaves_and_never_reenters(store: Store) -> None:
    store.integrate(
        "r1", outcomes(), authors(author("1", "alice"), author("2", "bob")), NO_IDS, NO_REJECTS
    )
    assert store.ban("@Alice", "asked to be removed", "2026-01-02T00:00:00Z") is True
    assert store.authors()["id"].to_list() == ["2"]
    # found again later, even under a new handle: it stays out
    result = store.integrate(
        "r2", outcomes(), authors(author("1", "alice_renamed")), NO_IDS, NO_REJECTS
    )
    assert (result.new, result.banned) == (0, 1)
    assert store.authors()["id"].to_list() == ["2"]
    assert store.banned().row(0, named=True)["ban_reason"] == "asked to be removed"


def test_a_ban_needs_a_reason(store: Store) -> None:
    with pytest.raises(StoreError, match="reason"):
        store.ban("alice", "  ", "2026-01-02T00:00:00Z")


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


def test_stale_handles_are_those_last_checked_before_the_cutoff(store: Store) -> None:
    old = [{"method": "x-api-v2", "fetched_at": "2026-01-01T00:00:00Z", "evidence": "t"}]
    new = [{"method": "x-api-v2", "fetched_at": "2026-03-01T00:00:00Z", "evidence": "t"}]
    both = authors(author("1", "alice", sources=old), author("2", "bob", sources=new))
    store.integrate("r1", outcomes(), both, NO_IDS, NO_REJECTS)
    assert store.stale_handles("2026-02-01T00:00:00Z") == ["alice"]


def test_processed_seed_files_are_known_by_content(store: Store) -> None:
    files = pl.DataFrame({"name": ["a.csv"], "path": ["lists/a.csv"], "sha256": ["f" * 64]})
    store.record_seed_files("r1", files)
    assert store.processed_seed_hashes() == set()
    store.mark_seed_files_processed("r1", ["f" * 64])
    assert store.processed_seed_hashes() == {"f" * 64}


def test_a_memory_limit_is_set_on_the_dataset_connection(tmp_path: Path) -> None:
    path = tmp_path / "influx.duckdb"
    with Store.open(path, "live", memory_limit="300MB") as limited:
        limit = limited._con.execute("SELECT current_setting('memory_limit')").fetchall()
    assert limit[0][0].startswith("286")  # DuckDB reports 300 MB in MiB: 286.1 MiB
    with pytest.raises(StoreError, match="memory limit 'much' refused"):
        Store.open(path, "live", memory_limit="much")


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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_constraint_failure_names_its_cause_and_leaves_the_file_byte_identical(
    tmp_path: Path,
) -> None:
    path = tmp_path / "influx.duckdb"
    with Store.open(path, "live") as store:
        store.integrate(
            "r1", outcomes(("alice", "found", "kept", "1")), authors(author("1", "alice")),
            NO_IDS, NO_REJECTS,
        )  # fmt: skip
    before = _sha256(path)
    with Store.open(path, "live") as store, pytest.raises(StoreError) as caught:
        # the same id twice among the staged authors: the merge's INSERT breaks the key
        store.integrate(
            "r2", outcomes(("bob", "found", "kept", "2")),
            authors(author("2", "bob"), author("2", "bobby")), NO_IDS, NO_REJECTS,
        )  # fmt: skip
    message = str(caught.value)
    assert "integrating run r2" in message
    assert "Constraint Error" in message and "table authors" in message
    assert "Current transaction is aborted" not in message
    assert isinstance(caught.value.__cause__, duckdb.ConstraintException)
    assert _sha256(path) == before


_FILE_TOO_LARGE = """
import resource, signal, sys
from pathlib import Path
import polars as pl
from influx_etl.errors import StoreError
from influx_etl.store import Store
from tests.store.test_integration import NO_IDS, NO_REJECTS, author, authors, outcomes

path = Path(sys.argv[1])
many = pl.DataFrame(
    [author(str(i), f"user{i}", description="x" * 200) for i in range(2, 20_000)],
    schema=authors().schema,
)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
with Store.open(path, "live") as store:
    # no file may grow past the dataset's size: the run's write-ahead log cannot be written
    size = path.stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
    try:
        store.integrate("r2", outcomes(), many, NO_IDS, NO_REJECTS)
    except StoreError as exc:
        print(exc)
        sys.exit(3)
"""


def test_a_write_that_finds_no_room_names_its_cause_and_leaves_the_file_byte_identical(
    tmp_path: Path,
) -> None:
    path = tmp_path / "influx.duckdb"
    with Store.open(path, "live") as store:
        store.integrate("r1", outcomes(), authors(author("1", "alice")), NO_IDS, NO_REJECTS)
    before = _sha256(path)
    result = subprocess.run(
        [sys.executable, "-c", _FILE_TOO_LARGE, str(path)],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "integrating run r2" in result.stdout and "File too large" in result.stdout
    assert _sha256(path) == before
    with Store.open(path, "live") as store:  # and the dataset opens as it was
        assert store.authors()["id"].to_list() == ["1"]


@contextmanager
def held_by_another_process(path: Path) -> Iterator[int]:
    """``path`` opened for writing by another process (a DuckDB file lock) while the block
    runs; yields that process's PID."""
    hold = "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold + "; sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        holder.communicate("")


def test_a_dataset_another_process_holds_is_refused_naming_that_process(tmp_path: Path) -> None:
    path = tmp_path / "influx.duckdb"
    Store.open(path, "live").close()
    with held_by_another_process(path) as pid:
        for opening in (lambda: Store.open(path, "live"), lambda: Store.open_existing(path)):
            with pytest.raises(StoreError) as caught:
                opening()
            assert str(caught.value) == (
                f"another influx run (PID {pid}) holds {path}; wait for it, or use "
                "another --data-dir"
            )


def test_a_version_4_file_remembers_the_last_settled_lookup_of_each_handle(
    tmp_path: Path,
) -> None:
    from influx_etl.store import _MIGRATIONS

    path = tmp_path / "v4.duckdb"
    con = duckdb.connect(str(path))
    for version in (1, 2, 3, 4):
        con.execute(_MIGRATIONS[version])
    con.execute("INSERT INTO dataset_info VALUES ('kind', 'live'), ('schema_version', '4')")
    for run_id, day in (("r0", "01"), ("r1", "05")):
        con.execute(
            "INSERT INTO runs (run_id, started_at, status, source) "
            f"VALUES ('{run_id}', '2026-01-{day}T00:00:00Z', 'succeeded', 'x-api')"
        )
        con.execute(
            "INSERT INTO raw_lookups (run_id, batch_id, handles, requested_at, attempts, "
            f"default_origin) VALUES ('{run_id}', 0, ['Ann'], '2026-01-{day}T00:00:01Z', 1, "
            "'x-api-v2')"
        )
    con.execute(
        "INSERT INTO handle_outcomes (run_id, handle_key, handle, batch_id, outcome, decision) "
        "VALUES ('r0', 'ann', 'Ann', 0, 'not_found', 'not_found'), "
        "('r1', 'ann', 'Ann', 0, 'found', 'kept'), ('r1', 'bob', 'bob', 0, 'failed', 'failed')"
    )
    con.close()
    with Store.open(path, "live") as store:
        assert store.schema_version == 5
        checked = store.handle_checks(pl.Series(["ann", "bob", "cal"]))
    # the newest lookup wins; a failed one was never settled
    assert checked.select("handle_key", "outcome", "checked_at").rows() == [
        ("ann", "found", "2026-01-05T00:00:01Z")
    ]


def raw_batch(batch_id: int, requested_at: str, user_ids: list[str]) -> RawBatch:
    body = {"data": [{"id": uid, "username": f"u{uid}"} for uid in user_ids]}
    return RawBatch(
        batch_id=batch_id,
        handles=tuple(f"u{uid}" for uid in user_ids),
        requested_at=requested_at,
        status=200,
        body=json.dumps(body),
    )


def test_the_usage_ledger_bills_a_user_once_per_utc_day(tmp_path: Path) -> None:
    with Store.open(tmp_path / "d.duckdb", "live") as store:
        reads = {
            "r1": [(0, "2026-01-01T08:00:00Z", ["1", "2"]), (1, "2026-01-01T09:00:00Z", ["2"])],
            "r2": [(0, "2026-01-01T23:00:00Z", ["1", "3"]), (1, "2026-01-02T00:30:00Z", ["1"])],
        }
        for run_id, batches in reads.items():
            store.begin_run(run_id, batches[0][1], "x-api", {})
            for batch_id, at, ids in batches:
                store.save_raw_batch(run_id, raw_batch(batch_id, at, ids))
                store.record_usage(run_id, batch_id, "GET /2/users/by", 1)
        store.save_raw_batch("r2", RawBatch(2, ("x",), "2026-01-02T00:31:00Z", None, None, "x"))
        store.record_usage("r2", 2, "GET /2/users/by", 4)  # a failed batch reads nobody
        usage = store.usage()
        since = store.usage("2026-01-02")
    assert usage.select("day", "run_id", "requests", "users_read", "billable").rows() == [
        ("2026-01-01", "r1", 2, 3, 2),
        ("2026-01-01", "r2", 1, 2, 1),  # user 1 was billed to r1 that day already
        ("2026-01-02", "r2", 5, 1, 1),  # a new UTC day bills user 1 again
    ]
    assert since["day"].to_list() == ["2026-01-02"]
