"""The dataset: one DuckDB file holding runs, raw lookups, per-handle outcomes and the authors.

:class:`Store` opens the file (creating and migrating it) and is composed of its parts, each a
module with one job over the one connection (:mod:`~influx_etl.store.connection`):

* :mod:`~influx_etl.store.schema` — the tables, their DDL and the migrations (the tables are
  described there);
* :mod:`~influx_etl.store.runs` — the run ledger: runs, their seeds, seed files, handle checks;
* :mod:`~influx_etl.store.raw` — raw lookups and the usage ledger;
* :mod:`~influx_etl.store.lists` — X List reads and their pages;
* :mod:`~influx_etl.store.integration` — a run's outcomes and authors merged, one transaction;
* :mod:`~influx_etl.store.merge` — the import merge (``influx import``);
* :mod:`~influx_etl.store.curation` — bans and QA verdicts.

Integration of a run is one transaction: a failed run leaves ``authors`` exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from influx_etl.errors import StoreError
from influx_etl.frames import AUTHORS_SCHEMA
from influx_etl.sources import DatasetKind
from influx_etl.store.connection import (
    INSERT_SLICE_ROWS,
    LIVE_ORIGINS,
    ROW_GROUP_ROWS,
    connected,
    from_embedded_server,
)
from influx_etl.store.curation import Curation
from influx_etl.store.integration import (
    Integrating,
    Integration,
    OutcomeCounts,
    RunIntegration,
)
from influx_etl.store.lists import ListReads
from influx_etl.store.merge import ImportMerge
from influx_etl.store.raw import RawLookups
from influx_etl.store.runs import RunLedger
from influx_etl.store.schema import PER_HANDLE_IDENTIFIERS, SCHEMA_VERSION, SchemaMigration

__all__ = [
    "INSERT_SLICE_ROWS",
    "LIVE_ORIGINS",
    "PER_HANDLE_IDENTIFIERS",
    "ROW_GROUP_ROWS",
    "SCHEMA_VERSION",
    "Integration",
    "OutcomeCounts",
    "RunIntegration",
    "Store",
    "from_embedded_server",
]


class Store(SchemaMigration, RunLedger, RawLookups, ListReads, Integrating, ImportMerge, Curation):
    """A DuckDB dataset file. Open with :meth:`open`; use as a context manager."""

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, kind={self.kind!r})"

    @classmethod
    def open(cls, path: Path, kind: DatasetKind, *, memory_limit: str | None = None) -> Store:
        """Open (creating and migrating as needed) the dataset file at ``path``;
        ``memory_limit`` (e.g. ``1GB``) caps DuckDB's memory, which then spills to disk."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open dataset {path}: {exc}") from None
        con = connected(path)
        if memory_limit is not None:
            try:
                quoted = memory_limit.replace("'", "''")  # SET takes no parameters
                con.execute(f"SET memory_limit = '{quoted}'")
            except duckdb.Error as exc:
                con.close()
                raise StoreError(f"{path}: memory limit {memory_limit!r} refused: {exc}") from None
        store = cls(path, con, kind)
        try:
            store._migrate()
            store._check_kind()
        except BaseException:
            con.close()
            raise
        return store

    @classmethod
    def open_existing(cls, path: Path) -> Store:
        """Open a dataset file that must already exist, whatever its kind (for the tools that
        read or edit a dataset rather than run lookups)."""
        if not path.is_file():
            raise StoreError(f"no dataset at {path} (run influx-harvest first, or pass --dataset)")
        con = connected(path)
        try:
            rows = con.execute("SELECT value FROM dataset_info WHERE key = 'kind'").fetchall()
            con.close()
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"{path} is not an influx dataset: {exc}") from None
        kind = str(rows[0][0]) if rows else ""
        if kind not in ("live", "simulated"):
            raise StoreError(f"{path} is not an influx dataset (no kind recorded)")
        return cls.open(path, "simulated" if kind == "simulated" else "live")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def snapshots(self, user_id: str | None = None) -> pl.DataFrame:
        where, params = ("WHERE id = ?", [user_id]) if user_id else ("", [])
        return self._frame(
            f"SELECT * FROM author_snapshots {where} ORDER BY id, fetched_at", params
        )

    def stale_handles(self, checked_before: str) -> list[str]:
        """Handles of authors last looked up before ``checked_before`` (ISO-8601 UTC)."""
        rows = self._con.execute(
            "SELECT handle FROM authors WHERE coalesce(last_checked_at, last_refresh_at) < ? "
            "ORDER BY handle_key",
            [checked_before],
        ).fetchall()
        return [str(row[0]) for row in rows]

    def authors(self) -> pl.DataFrame:
        """The dataset's authors (AUTHORS_SCHEMA)."""
        columns = ", ".join(AUTHORS_SCHEMA)
        frame = self._frame(f"SELECT {columns} FROM authors ORDER BY id")
        return frame.cast(dict(AUTHORS_SCHEMA))  # type: ignore[arg-type]

    def author_columns(self, columns: tuple[str, ...]) -> pl.DataFrame:
        """These columns (of AUTHORS_SCHEMA) of every author, rows in no particular order: the
        export ranks the whole dataset on a few columns without holding all of them."""
        frame = self._frame(f"SELECT {', '.join(columns)} FROM authors")
        return frame.cast({name: AUTHORS_SCHEMA[name] for name in columns})

    def authors_with_ids(self, ids: pl.Series) -> pl.DataFrame:
        """The authors (AUTHORS_SCHEMA) with these ids, rows in no particular order: one slice
        of an export. Each call scans the table, DuckDB filtering it by the ids as it reads
        (faster than reading it all: docs/performance.md)."""
        columns = ", ".join(AUTHORS_SCHEMA)
        self._con.register("export_slice_ids", ids.cast(pl.String).rename("id").to_frame())
        try:
            frame = self._frame(
                f"SELECT {columns} FROM authors SEMI JOIN export_slice_ids USING (id)"
            )
        finally:
            self._con.unregister("export_slice_ids")
        return frame.cast(dict(AUTHORS_SCHEMA))  # type: ignore[arg-type]
