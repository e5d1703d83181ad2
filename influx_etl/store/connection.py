"""The dataset's connection: DuckDB errors mapped to StoreError, transactions and frame inserts.

:class:`StoreBase` holds one traced DuckDB connection (:class:`TracedConnection`) and is the base
of every part of :class:`~influx_etl.store.Store`: :meth:`StoreBase._transaction` is the one place
a failed transaction becomes a :class:`~influx_etl.errors.StoreError` naming its first cause, the
statement and its table; :meth:`StoreBase._insert_frame` hands a Polars frame to DuckDB under an
explicit name (:data:`NEW_ROWS`), in slices.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from influx_etl import timing
from influx_etl.errors import StoreError
from influx_etl.sources import DatasetKind

ROW_GROUP_ROWS = 122_880
"""DuckDB's row group size (its default, which our files keep). Each INSERT leaves its last
row group partly filled, and the next checkpoint rewrites the partly filled ones, so every INSERT
but the last should be a whole number of row groups (docs/performance.md)."""
INSERT_SLICE_ROWS = 8 * ROW_GROUP_ROWS
"""Rows of a Polars frame handed to DuckDB per INSERT (983,040, whole row groups): DuckDB reads a
frame through an Arrow copy of it, so a whole large frame at once costs that copy in memory
(docs/performance.md)."""
NEW_ROWS = "new_rows"
"""The name an INSERT of :meth:`StoreBase._insert_frame` reads its frame by."""
LIVE_ORIGINS = ("x-api-v2", "prefetched", "imported", "list-members")
"""Origins a live dataset accepts; the embedded server's (synthetic, recorded) never enter it."""
EMBEDDED_SERVER_METHOD = "influx-api-sim:"
"""How a source method of the embedded server begins (``meta.sources[].method``)."""


def from_embedded_server() -> pl.Expr:
    """Whether an author row (AUTHORS_SCHEMA) was made by the embedded server: its origin is not
    a live one, or one of its sources is the server's (an imported record keeps its own)."""
    server_source = (
        pl.col("sources")
        .list.eval(pl.element().struct.field("method").str.starts_with(EMBEDDED_SERVER_METHOD))
        .list.any()
    )
    return (~pl.col("origin").is_in(LIVE_ORIGINS)).fill_null(False) | server_source.fill_null(False)


class TracedConnection:
    """A DuckDB connection that remembers the first statement that failed since
    :meth:`forget_failure`: an error is reported with the statement (and table) it came from,
    not with whatever ran after it on the aborted transaction."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.raw = connection
        self.failed: tuple[str, duckdb.Error] | None = None

    def forget_failure(self) -> None:
        self.failed = None

    def note_failure(self, statement: str, error: duckdb.Error) -> None:
        if self.failed is None:
            self.failed = (statement, error)

    def execute(
        self, sql: str, params: list[Any] | dict[str, Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        try:
            return self.raw.execute(sql, params)
        except duckdb.Error as exc:
            self.note_failure(sql, exc)
            raise

    def sql(
        self, sql: str, params: list[Any] | dict[str, Any] | None = None
    ) -> duckdb.DuckDBPyRelation:
        try:
            return self.raw.sql(sql, params=params)
        except duckdb.Error as exc:
            self.note_failure(sql, exc)
            raise

    def register(self, name: str, frame: pl.DataFrame | pa.RecordBatchReader) -> None:
        self.raw.register(name, frame)

    def unregister(self, name: str) -> None:
        # on an aborted transaction this raises too; the first error is what counts
        with suppress(duckdb.Error):
            self.raw.unregister(name)

    def close(self) -> None:
        self.raw.close()


_STATEMENT_TABLE = re.compile(
    r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE|DELETE\s+FROM|ALTER\s+TABLE|"
    r"CREATE(?:\s+OR\s+REPLACE)?(?:\s+TEMP)?\s+(?:TABLE|VIEW)|DROP\s+(?:TABLE|VIEW)"
    r"(?:\s+IF\s+EXISTS)?|FROM)\s+(\w+)",
    re.IGNORECASE,
)


def statement_summary(statement: str) -> str:
    """``statement`` on one line, shortened, with the table it writes (or reads) named."""
    text = " ".join(statement.split())
    shown = text if len(text) <= 80 else text[:77] + "..."
    table = _STATEMENT_TABLE.search(text)
    where = f"table {table.group(1)}, " if table else ""
    return f"{where}statement `{shown}`"


def first_duckdb_error(error: BaseException | None) -> duckdb.Error | None:
    """The earliest DuckDB error in ``error``'s chain (causes and contexts)."""
    first = None
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, duckdb.Error):
            first = error
        error = error.__cause__ or error.__context__
    return first


def slices(frame: pl.DataFrame, rows: int, keep_together: str | None) -> Iterator[pl.DataFrame]:
    """``frame`` in consecutive slices of about ``rows`` rows (zero-copy); with
    ``keep_together``, a slice ends only where that (sorted) column's value changes."""
    start = 0
    while start < frame.height:
        end = min(start + rows, frame.height)
        if keep_together is not None and end < frame.height:
            column = frame.get_column(keep_together)
            end = int(column.search_sorted(column[end - 1], side="right"))
        yield frame.slice(start, end - start)
        start = end


def _one_pass(frame: pl.DataFrame) -> pa.RecordBatchReader:
    """``frame`` as a reader that makes its Arrow copy when read and lets go of it once read."""

    def batches() -> Iterator[pa.RecordBatch]:
        yield from frame.to_arrow().to_batches()

    return pa.RecordBatchReader.from_batches(frame.head(0).to_arrow().schema, batches())


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in .*\(PID (\d+)\)")


def connected(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection to ``path``. DuckDB lets one process write a file at a time: a
    file another process holds is refused at once, naming that process's PID."""
    try:
        return duckdb.connect(str(path))
    except duckdb.Error as exc:
        holder = _LOCK_HOLDER.search(str(exc))
        if holder is not None:
            raise StoreError(
                f"another influx run (PID {holder.group(1)}) holds {path}; wait for it, or use "
                "another --data-dir"
            ) from exc
        raise StoreError(f"cannot open dataset {path}: {exc}") from exc


class StoreBase:
    """One dataset file's connection, its transactions and the statements every part runs."""

    def __init__(
        self, path: Path, connection: duckdb.DuckDBPyConnection, kind: DatasetKind
    ) -> None:
        self.path = path
        self.kind = kind
        self._con = TracedConnection(connection)

    def close(self) -> None:
        self._con.close()

    def refuse_embedded_server_authors(self, authors: pl.DataFrame) -> None:
        """The one guard of a live dataset: authors made by the embedded server
        (:func:`from_embedded_server`) raise StoreError before anything is written."""
        if self.kind != "live":
            return
        made_up = authors.filter(from_embedded_server())
        if made_up.height:
            origins = ", ".join(sorted(set(made_up["origin"].drop_nulls().unique().to_list())))
            raise StoreError(
                f"{self.path} holds live data only; refusing {made_up.height:,} profiles made by "
                f"the embedded server (e.g. @{made_up['handle'][0]}, origin {origins or 'unknown'})"
                " — they belong in the synthetic dataset: nothing was written. Look them up with "
                "--source sim, or pass a users file whose user objects carry the embedded "
                "server's _influx_origin mark (influx generate-profiles writes it): such a file "
                "goes to the synthetic dataset"
            )

    @property
    def schema_version(self) -> int:
        return int(self._info("schema_version") or 0)

    @contextmanager
    def _transaction(self, what: str, *, timed_commit: bool = False) -> Iterator[None]:
        """One transaction: committed when the block ends, rolled back when it raises.

        A DuckDB error inside becomes a :class:`StoreError` saying ``what`` failed, with the
        *first* DuckDB error's own text and the statement and table it came from, raised
        ``from`` that error: what failed after it on the aborted transaction (a cleanup, the
        rollback itself) never replaces it. Any other exception is re-raised as it is. With
        ``timed_commit`` the COMMIT is timed as stage ``commit``."""
        con = self._con
        con.forget_failure()
        try:
            con.execute("BEGIN TRANSACTION")
            yield
            with timing.stage("commit") if timed_commit else nullcontext():
                con.execute("COMMIT")
        except BaseException as exc:
            failed = con.failed
            rollback = self._rollback()
            first = failed[1] if failed else first_duckdb_error(exc)
            if first is None or not isinstance(exc, duckdb.Error | StoreError):
                raise
            statement = statement_summary(failed[0]) if failed else "no statement recorded"
            raise StoreError(
                f"{what} failed: {first} ({statement}); nothing of it was written{rollback}"
            ) from first

    def _rollback(self) -> str:
        """Roll the open transaction back; what to add to the error when that fails too."""
        try:
            self._con.raw.execute("ROLLBACK")
        except duckdb.Error as exc:
            if "no transaction is active" in str(exc):  # a failed COMMIT rolled back already
                return ""
            return (
                f"; the rollback failed too ({exc}): the uncommitted changes are dropped when "
                "the dataset is closed"
            )
        return ""

    @contextmanager
    def _named_errors(self) -> Iterator[None]:
        """A DuckDB error of one statement outside :meth:`_transaction`, as a StoreError naming
        the dataset file."""
        try:
            yield
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def _info(self, key: str) -> str | None:
        # fetchall, not fetchone: DuckDB keeps a partly read result open on the connection
        rows = self._con.execute("SELECT value FROM dataset_info WHERE key = ?", [key]).fetchall()
        return str(rows[0][0]) if rows else None

    def _count(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> int:
        rows = self._con.execute(sql, params or []).fetchall()
        return int(rows[0][0]) if rows else 0

    def _execute(self, sql: str, params: list[Any]) -> None:
        with self._named_errors():
            self._con.execute(sql, params)

    def _insert_frame(self, sql: str, frame: pl.DataFrame, params: dict[str, Any]) -> None:
        """Run the INSERT ``sql``, which reads ``frame`` as :data:`NEW_ROWS`, on slices of
        :data:`INSERT_SLICE_ROWS` rows (see there)."""
        for rows in slices(frame, INSERT_SLICE_ROWS, None):
            # a one-pass reader, not the frame: inside a transaction a registered object stays
            # in memory until the transaction ends, unregistered or not (docs/performance.md)
            self._con.register(NEW_ROWS, _one_pass(rows))
            try:
                self._con.execute(sql, params)
            finally:
                self._con.unregister(NEW_ROWS)

    def _frame(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        with self._named_errors():
            frame: pl.DataFrame = self._con.sql(sql, params=params or None).pl()
            return frame
