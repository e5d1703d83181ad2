"""The dataset file's schema: created at the current version, migrated forward, one kind."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from influx_etl.errors import StoreError
from influx_etl.store import SCHEMA_VERSION, Store
from influx_etl.store.schema import _MIGRATIONS
from tests.store.rows import NO_IDS, NO_REJECTS, author, authors, outcomes


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


def test_a_version_1_file_is_migrated_forward_keeping_its_authors(tmp_path: Path) -> None:
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
        assert store.schema_version == SCHEMA_VERSION == 6
        assert store.stale_handles("2026-01-01T00:00:00Z") == ["old"]  # last_checked_at filled
        store.integrate("r1", outcomes(), authors(author("1", "alice")), NO_IDS, NO_REJECTS)
        assert store.snapshots("1").height == 1
        assert store.banned().is_empty()


def test_a_version_2_file_keeps_its_outcomes_and_loses_only_their_key(tmp_path: Path) -> None:
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
        assert store.schema_version == SCHEMA_VERSION == 6
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


def test_a_version_4_file_remembers_the_last_settled_lookup_of_each_handle(
    tmp_path: Path,
) -> None:
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
        assert store.schema_version == SCHEMA_VERSION
        checked = store.handle_checks(pl.Series(["ann", "bob", "cal"]))
    # the newest lookup wins; a failed one was never settled
    assert checked.select("handle_key", "outcome", "checked_at").rows() == [
        ("ann", "found", "2026-01-05T00:00:01Z")
    ]
