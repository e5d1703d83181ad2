"""The dataset: one DuckDB file holding runs, raw lookups, per-handle outcomes and the authors.

Tables (schema version 1):

* ``dataset_info(key, value)`` — ``schema_version`` and ``kind`` (``live`` or ``simulated``: a file
  made from the embedded server's profiles never accepts live lookups and vice versa);
* ``runs`` — one row per pipeline run: id, times, source, arguments, status, funnel counts, and
  a fingerprint of its work (seeds, batching, source) that lets an unfinished run be resumed;
* ``run_seeds`` — the seeds of each run as batched, so a run can be resumed or replayed from the
  file alone;
* ``raw_lookups`` — every batch's verbatim API document, committed as soon as it arrives, with
  the request time, status, rate-limit headers and error; later stages can be recomputed from it;
* ``handle_outcomes`` — per run, every seed handle's outcome, decision and the rules behind it
  (matched brand/risk rules, confidence): none is lost, every decision is explainable;
* ``seed_rejects`` — per run, every seed row that was not a valid handle, with file and line;
* ``authors`` — the dataset itself: one row per X user id (a renamed handle updates the row).

Integration of a run is one transaction: a failed run leaves ``authors`` exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from influx_etl.errors import StoreError
from influx_etl.frames import (
    AUTHORS_SCHEMA,
    OUTCOMES_SCHEMA,
    RUN_SEEDS_SCHEMA,
    SEED_REJECTS_SCHEMA,
)
from influx_etl.sources import DatasetKind, RawBatch

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

SCHEMA_VERSION = 1

_SQL_TYPES: dict[PolarsDataType, str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
}
_CHANGE_IGNORED = {"sources", "last_refresh_at"}
"""Columns that change on every lookup; an author whose other columns are equal is unchanged."""


def _sql_type(dtype: PolarsDataType) -> str:
    if isinstance(dtype, type):  # a bare class such as pl.String inside List(...)
        return _SQL_TYPES[dtype]
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        if isinstance(inner, pl.Struct):
            fields = ", ".join(f"{f.name} {_sql_type(f.dtype)}" for f in inner.fields)
            return f"STRUCT({fields})[]"
        return f"{_sql_type(inner)}[]"
    return _SQL_TYPES[type(dtype)]


def _columns_sql(schema: pl.Schema, primary_key: str | None = None) -> str:
    """DDL column definitions generated from a frame contract, so the two never drift apart."""
    return ",\n    ".join(
        f"{name} {_sql_type(dtype)}" + (" PRIMARY KEY" if name == primary_key else "")
        for name, dtype in schema.items()
    )


_MIGRATIONS: dict[int, str] = {
    1: f"""
CREATE TABLE dataset_info (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    started_at VARCHAR NOT NULL,
    finished_at VARCHAR,
    status VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    fingerprint VARCHAR,
    args JSON,
    counts JSON
);
CREATE TABLE run_seeds (
    run_id VARCHAR NOT NULL,
    {_columns_sql(RUN_SEEDS_SCHEMA)}
);
CREATE TABLE raw_lookups (
    run_id VARCHAR NOT NULL,
    batch_id BIGINT NOT NULL,
    handles VARCHAR[] NOT NULL,
    requested_at VARCHAR NOT NULL,
    status INTEGER,
    body VARCHAR,
    error VARCHAR,
    attempts INTEGER NOT NULL,
    elapsed_s DOUBLE,
    rate_limit JSON,
    default_origin VARCHAR NOT NULL,
    PRIMARY KEY (run_id, batch_id)
);
CREATE TABLE handle_outcomes (
    run_id VARCHAR NOT NULL,
    {_columns_sql(OUTCOMES_SCHEMA)},
    PRIMARY KEY (run_id, handle_key)
);
CREATE TABLE seed_rejects (
    run_id VARCHAR NOT NULL,
    {_columns_sql(SEED_REJECTS_SCHEMA)}
);
CREATE TABLE authors (
    {_columns_sql(AUTHORS_SCHEMA, primary_key="id")},
    handle_key VARCHAR NOT NULL,
    first_seen_run VARCHAR NOT NULL,
    last_changed_run VARCHAR NOT NULL
);
""",
}


@dataclass(frozen=True)
class Integration:
    """What one run changed in the dataset."""

    new: int
    updated: int
    unchanged: int
    removed: int


class Store:
    """A DuckDB dataset file. Open with :meth:`open`; use as a context manager."""

    def __init__(
        self, path: Path, connection: duckdb.DuckDBPyConnection, kind: DatasetKind
    ) -> None:
        self.path = path
        self.kind = kind
        self._con = connection

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, kind={self.kind!r})"

    @classmethod
    def open(cls, path: Path, kind: DatasetKind) -> Store:
        """Open (creating and migrating as needed) the dataset file at ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(path))
        except (OSError, duckdb.Error) as exc:
            raise StoreError(f"cannot open dataset {path}: {exc}") from None
        store = cls(path, con, kind)
        try:
            store._migrate()
            store._check_kind()
        except BaseException:
            con.close()
            raise
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    @property
    def schema_version(self) -> int:
        return int(self._info("schema_version") or 0)

    # -- runs -------------------------------------------------------------------------------

    def begin_run(
        self,
        run_id: str,
        started_at: str,
        source: str,
        args: Mapping[str, Any],
        *,
        fingerprint: str | None = None,
        seeds: pl.DataFrame | None = None,
    ) -> None:
        """Record a new run and its batched seeds (RUN_SEEDS_SCHEMA), in one transaction."""
        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(
                "INSERT INTO runs VALUES (?, ?, NULL, 'running', ?, ?, ?, NULL)",
                [run_id, started_at, source, fingerprint, json.dumps(args, sort_keys=True)],
            )
            if seeds is not None:
                con.register("new_run_seeds", seeds.select(list(RUN_SEEDS_SCHEMA)))
                con.execute("INSERT INTO run_seeds SELECT ?, * FROM new_run_seeds", [run_id])
                con.unregister("new_run_seeds")
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot record run {run_id}: {exc}") from None

    def unfinished_run(self, fingerprint: str) -> str | None:
        """The newest run with this fingerprint that never finished (killed, or stopped by an
        error), whose completed batches a new run can take over instead of asking again."""
        rows = self._con.execute(
            "SELECT run_id FROM runs WHERE fingerprint = ? AND status IN ('running', 'failed') "
            "AND started_at >= coalesce((SELECT max(started_at) FROM runs WHERE fingerprint = ? "
            "AND status = 'succeeded'), '') ORDER BY started_at DESC LIMIT 1",
            [fingerprint, fingerprint],
        ).fetchall()
        return str(rows[0][0]) if rows else None

    def reopen_run(self, run_id: str) -> None:
        self._execute(
            "UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?", [run_id]
        )

    def fetched_batches(self, run_id: str) -> set[int]:
        """Batch ids of ``run_id`` whose raw document is stored (failed batches are not)."""
        rows = self._con.execute(
            "SELECT batch_id FROM raw_lookups WHERE run_id = ? AND error IS NULL", [run_id]
        ).fetchall()
        return {int(row[0]) for row in rows}

    def run_seeds(self, run_id: str) -> pl.DataFrame:
        columns = ", ".join(RUN_SEEDS_SCHEMA)
        frame = self._frame(
            f"SELECT {columns} FROM run_seeds WHERE run_id = ? ORDER BY batch_id, line", [run_id]
        )
        return frame.cast(dict(RUN_SEEDS_SCHEMA))  # type: ignore[arg-type]

    def latest_run_with_raw(self) -> str | None:
        """The newest succeeded run that looked handles up (not a replay), if any."""
        rows = self._con.execute(
            "SELECT run_id FROM runs WHERE status = 'succeeded' "
            "AND run_id IN (SELECT run_id FROM raw_lookups) ORDER BY started_at DESC LIMIT 1"
        ).fetchall()
        return str(rows[0][0]) if rows else None

    def run_seed_rows(self, run_id: str) -> int:
        """Seed rows the run read (duplicates and rejects included), as recorded at its start."""
        rows = self._con.execute(
            "SELECT coalesce(json_extract(args, '$.seed_rows')::BIGINT, 0) FROM runs "
            "WHERE run_id = ?",
            [run_id],
        ).fetchall()
        return int(rows[0][0]) if rows else 0

    def finish_run(
        self, run_id: str, finished_at: str, status: str, counts: Mapping[str, int]
    ) -> None:
        self._execute(
            "UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE run_id = ?",
            [finished_at, status, json.dumps(dict(counts)), run_id],
        )

    def runs(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM runs ORDER BY started_at")

    # -- raw lookups ------------------------------------------------------------------------

    def save_raw_batch(self, run_id: str, batch: RawBatch) -> None:
        """Commit one batch's raw document before anything downstream reads it."""
        self._execute(
            "INSERT OR REPLACE INTO raw_lookups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                batch.batch_id,
                list(batch.handles),
                batch.requested_at,
                batch.status,
                batch.body,
                batch.error,
                batch.attempts,
                batch.elapsed_s,
                json.dumps(dict(batch.rate_limit)),
                batch.default_origin,
            ],
        )

    def raw_lookups(self, run_id: str) -> pl.DataFrame:
        """The run's raw batches, with the columns :func:`influx_etl.lookup.profiles` reads."""
        return self._frame(
            "SELECT batch_id, handles, requested_at, status::BIGINT AS status, body, error, "
            "default_origin FROM raw_lookups WHERE run_id = ? ORDER BY batch_id",
            [run_id],
        )

    # -- integration ------------------------------------------------------------------------

    def integrate(
        self,
        run_id: str,
        outcomes: pl.DataFrame,
        authors: pl.DataFrame,
        rejected_ids: pl.Series,
        seed_rejects: pl.DataFrame,
    ) -> Integration:
        """Record the run's outcomes and merge its authors, in one transaction.

        ``authors`` (AUTHORS_SCHEMA) are inserted or updated by id; ``rejected_ids`` are ids
        this run looked up and did not keep (below threshold, brand, risk): they leave the
        dataset. An existing author holding the handle of an incoming different id was renamed
        and its handle reused: the newer lookup wins.
        """
        if (
            self.kind == "live"
            and authors.filter(pl.col("origin") != "x-api-v2")
            .filter(pl.col("origin") != "prefetched")
            .height
        ):
            raise StoreError(
                f"{self.path} holds live lookups only; refusing profiles from the embedded "
                "server (synthetic or replayed) — they belong in the synthetic dataset"
            )
        incoming = authors.select(list(AUTHORS_SCHEMA)).with_columns(
            pl.col("handle").str.to_lowercase().alias("handle_key")
        )
        rejected = pl.DataFrame({"id": rejected_ids.cast(pl.String)})
        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            con.register("incoming", incoming)
            con.register("rejected", rejected)
            con.register("run_outcomes", outcomes.select(list(OUTCOMES_SCHEMA)))
            con.register("run_seed_rejects", seed_rejects.select(list(SEED_REJECTS_SCHEMA)))
            new = self._count(
                "SELECT count(*) FROM incoming WHERE id NOT IN (SELECT id FROM authors)"
            )
            changed = " OR ".join(
                f"a.{c} IS DISTINCT FROM i.{c}" for c in AUTHORS_SCHEMA if c not in _CHANGE_IGNORED
            )
            updated = self._count(
                f"SELECT count(*) FROM authors a JOIN incoming i USING (id) WHERE {changed}"
            )
            unchanged = incoming.height - new - updated
            removed = self._count(
                "SELECT count(*) FROM authors WHERE id IN (SELECT id FROM rejected) "
                "OR (handle_key IN (SELECT handle_key FROM incoming) "
                "    AND id NOT IN (SELECT id FROM incoming))"
            )
            con.execute(
                "DELETE FROM authors WHERE id IN (SELECT id FROM rejected) "
                "OR (handle_key IN (SELECT handle_key FROM incoming) "
                "    AND id NOT IN (SELECT id FROM incoming))"
            )
            assignments = ", ".join(
                f"{c} = i.{c}" for c in [*AUTHORS_SCHEMA, "handle_key"] if c != "id"
            )
            con.execute(
                f"UPDATE authors a SET {assignments}, last_changed_run = ? "
                f"FROM incoming i WHERE a.id = i.id AND ({changed})",
                [run_id],
            )
            columns = ", ".join([*AUTHORS_SCHEMA, "handle_key"])
            con.execute(
                f"INSERT INTO authors ({columns}, first_seen_run, last_changed_run) "
                f"SELECT {columns}, ?, ? FROM incoming WHERE id NOT IN (SELECT id FROM authors)",
                [run_id, run_id],
            )
            con.execute(
                f"INSERT INTO handle_outcomes SELECT ?, {', '.join(OUTCOMES_SCHEMA)} "
                "FROM run_outcomes",
                [run_id],
            )
            con.execute(
                "INSERT INTO seed_rejects SELECT ?, seed_file, line, raw_handle, reason "
                "FROM run_seed_rejects",
                [run_id],
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"integrating run {run_id} into {self.path} failed: {exc}") from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            for view in ("incoming", "rejected", "run_outcomes", "run_seed_rejects"):
                con.unregister(view)
        return Integration(new=new, updated=updated, unchanged=unchanged, removed=removed)

    def authors(self) -> pl.DataFrame:
        """The dataset's authors (AUTHORS_SCHEMA)."""
        columns = ", ".join(AUTHORS_SCHEMA)
        frame = self._frame(f"SELECT {columns} FROM authors ORDER BY id")
        return frame.cast(dict(AUTHORS_SCHEMA))  # type: ignore[arg-type]

    def seed_rejects(self, run_id: str) -> pl.DataFrame:
        return self._frame(
            "SELECT seed_file, line, raw_handle, reason FROM seed_rejects WHERE run_id = ? "
            "ORDER BY seed_file, line",
            [run_id],
        )

    def handle_outcomes(self, run_id: str) -> pl.DataFrame:
        return self._frame(
            "SELECT * FROM handle_outcomes WHERE run_id = ? ORDER BY handle_key", [run_id]
        )

    # -- internals --------------------------------------------------------------------------

    def _migrate(self) -> None:
        has_info = self._count(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'dataset_info'"
        )
        version = self.schema_version if has_info else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this influx_etl "
                f"understands ({SCHEMA_VERSION}): upgrade influx_etl"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            try:
                self._con.execute("BEGIN TRANSACTION")
                self._con.execute(_MIGRATIONS[target])
                if target == 1:
                    self._con.execute("INSERT INTO dataset_info VALUES ('kind', ?)", [self.kind])
                self._con.execute(
                    "INSERT OR REPLACE INTO dataset_info VALUES ('schema_version', ?)",
                    [str(target)],
                )
                self._con.execute("COMMIT")
            except duckdb.Error as exc:
                self._con.execute("ROLLBACK")
                raise StoreError(
                    f"migrating {self.path} to schema {target} failed: {exc}"
                ) from None

    def _check_kind(self) -> None:
        stored = self._info("kind")
        if stored != self.kind:
            raise StoreError(
                f"{self.path} is a {stored} dataset; this run's source makes {self.kind} data. "
                "Synthetic and live profiles never share a file: use the matching --data-dir."
            )

    def _info(self, key: str) -> str | None:
        # fetchall, not fetchone: DuckDB keeps a partly read result open on the connection
        rows = self._con.execute("SELECT value FROM dataset_info WHERE key = ?", [key]).fetchall()
        return str(rows[0][0]) if rows else None

    def _count(self, sql: str, params: list[Any] | None = None) -> int:
        rows = self._con.execute(sql, params or []).fetchall()
        return int(rows[0][0]) if rows else 0

    def _execute(self, sql: str, params: list[Any]) -> None:
        try:
            self._con.execute(sql, params)
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def _frame(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        try:
            frame: pl.DataFrame = self._con.sql(sql, params=params or None).pl()
            return frame
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None
