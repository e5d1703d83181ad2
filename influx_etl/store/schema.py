"""The dataset file's tables: their DDL, generated from the frame contracts, and the migrations.

Tables (schema version 6; older files are migrated forward when opened):

* ``dataset_info(key, value)`` — ``schema_version`` and ``kind`` (``live`` or ``simulated``: a file
  made from the embedded server's profiles never accepts live lookups and vice versa);
* ``runs`` — one row per pipeline run: id, times, source, arguments, status, funnel counts, and
  a fingerprint of its work (seeds, batching, source) that lets an unfinished run be resumed;
* ``run_seeds`` — the seeds of each run as batched, so a run can be resumed or replayed from the
  file alone;
* ``raw_lookups`` — every batch's verbatim API document, committed as soon as it arrives, with
  the request time, status, rate-limit headers and error; later stages can be recomputed from it.
  A batch answered by a prefetched users file holds a reference to the file instead (``raw_file``:
  path, size, SHA-256): the file is the raw data and is not copied;
* ``handle_outcomes`` — per run, every seed handle's outcome, decision and the rules behind it
  (matched brand/risk rules, confidence): none is lost, every decision is explainable. One row
  per handle per run is kept by the writer (:class:`~influx_etl.store.RunIntegration` settles
  duplicates), not by a primary key, whose index was a costly part of a big run's write
  (docs/performance.md; schema 3 dropped it);
* ``seed_rejects`` — per run, every seed row that was not a valid handle, with file and line;
* ``authors`` — the dataset itself: one row per X user id (a renamed handle updates the row).
  ``meta.last_refresh_at`` in a record is when its looked-up data last *changed* (so an export is
  byte-identical when nothing changed); ``last_checked_at`` is when it was last looked up;
* ``author_snapshots`` — followers and metrics of each author at each distinct lookup (growth);
* ``banned_authors`` — authors who asked to be removed (``ban_reason``): they never re-enter;
* ``seed_files`` — every seed file content seen (sha256, name, path) and the run that processed it;
* ``handle_checks`` — the last settled lookup of each handle asked (its key as asked): outcome,
  user id and when; what freshness (:mod:`influx_etl.plan`) reuses instead of asking again;
* ``api_usage`` — every request batch a run sent: endpoint, requests, the user ids it read
  (``influx usage``: per UTC day, a user read again that day is not billed again);
* ``list_reads`` and ``list_pages`` — every read of an X Lists endpoint (a List, its members, a
  user's memberships) and its pages verbatim, each committed with its usage line before the next
  is asked: a killed read resumes at its last ``next_token``, and stored members answer handles
  without a lookup (:mod:`~influx_etl.store.lists`);
* ``qa_verdicts`` — reviewers' verdicts on QA samples (``influx qa-sample --record``);
* ``flagged_accounts`` (a view) — every author a brand or risk rule fired on, per run: the audit
  the rules files' ``log_flagged`` asks for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import polars as pl

from influx_etl.errors import StoreError
from influx_etl.frames import (
    AUTHORS_SCHEMA,
    OUTCOMES_SCHEMA,
    QA_VERDICTS_SCHEMA,
    RUN_SEEDS_SCHEMA,
    SEED_REJECTS_SCHEMA,
)
from influx_etl.store.connection import StoreBase

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

SCHEMA_VERSION = 6

_SQL_TYPES: dict[PolarsDataType, str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
}


def sql_type(dtype: PolarsDataType) -> str:
    if isinstance(dtype, type):  # a bare class such as pl.String inside List(...)
        return _SQL_TYPES[dtype]
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        if isinstance(inner, pl.Struct):
            fields = ", ".join(f"{f.name} {sql_type(f.dtype)}" for f in inner.fields)
            return f"STRUCT({fields})[]"
        return f"{sql_type(inner)}[]"
    return _SQL_TYPES[type(dtype)]


def columns_sql(
    schema: pl.Schema, primary_key: str | None = None, uncompressed: tuple[str, ...] = ()
) -> str:
    """DDL column definitions generated from a frame contract, so the two never drift apart;
    the ``uncompressed`` columns are stored as they are (see :data:`PER_HANDLE_IDENTIFIERS`)."""
    return ",\n    ".join(
        f"{name} {sql_type(dtype)}"
        + (" PRIMARY KEY" if name == primary_key else "")
        + (" USING COMPRESSION uncompressed" if name in uncompressed else "")
        for name, dtype in schema.items()
    )


PER_HANDLE_IDENTIFIERS: Final = ("handle_key", "handle", "id", "username")
"""Columns of the per-handle history tables (``run_seeds``, ``handle_outcomes``: a row per seed
handle per run) stored uncompressed. Nearly every value is distinct, so DuckDB picks dictionary
and FSST compression, whose cost is paid on every insert; the price of storing them as they are is
disk (docs/performance.md). The authors table, the dataset itself, keeps DuckDB's compression."""


def _rebuilt(table: str, schema: pl.Schema, uncompressed: tuple[str, ...]) -> str:
    """SQL that makes ``table`` (``run_id`` + ``schema``) anew with the ``uncompressed`` columns,
    keeping its rows."""
    return f"""ALTER TABLE {table} RENAME TO {table}_old;
CREATE TABLE {table} (
    run_id VARCHAR NOT NULL,
    {columns_sql(schema, uncompressed=uncompressed)}
);
INSERT INTO {table} SELECT * FROM {table}_old;
DROP TABLE {table}_old;"""


_FLAGGED_ACCOUNTS_VIEW = """CREATE VIEW flagged_accounts AS
SELECT o.run_id, r.started_at, o.handle_key, o.handle, o.username, o.id, o.followers_count,
       o.brand_matches, o.brand_confidence, o.is_org, o.is_official,
       o.risk_matches, o.risk_flags, o.risk_excluded, o.decision
FROM handle_outcomes o JOIN runs r USING (run_id)
WHERE len(coalesce(o.brand_matches, []::VARCHAR[])) > 0
   OR len(coalesce(o.risk_flags, []::VARCHAR[])) > 0;"""

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
    {columns_sql(RUN_SEEDS_SCHEMA)}
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
    {columns_sql(OUTCOMES_SCHEMA)},
    PRIMARY KEY (run_id, handle_key)
);
CREATE TABLE seed_rejects (
    run_id VARCHAR NOT NULL,
    {columns_sql(SEED_REJECTS_SCHEMA)}
);
CREATE TABLE authors (
    {columns_sql(AUTHORS_SCHEMA, primary_key="id")},
    handle_key VARCHAR NOT NULL,
    first_seen_run VARCHAR NOT NULL,
    last_changed_run VARCHAR NOT NULL
);
""",
    2: f"""
CREATE TABLE seed_files (
    sha256 VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    first_seen_run VARCHAR NOT NULL,
    processed_run VARCHAR
);
CREATE TABLE author_snapshots (
    id VARCHAR NOT NULL,
    fetched_at VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    handle VARCHAR NOT NULL,
    followers_count BIGINT,
    following_count BIGINT,
    tweet_count BIGINT,
    listed_count BIGINT,
    like_count BIGINT,
    media_count BIGINT,
    score DOUBLE,
    PRIMARY KEY (id, fetched_at)
);
CREATE TABLE banned_authors (
    handle_key VARCHAR PRIMARY KEY,
    id VARCHAR,
    banned_at VARCHAR NOT NULL,
    ban_reason VARCHAR NOT NULL
);
CREATE TABLE qa_verdicts (
    {columns_sql(QA_VERDICTS_SCHEMA)},
    PRIMARY KEY (handle_key, review_file)
);
{_FLAGGED_ACCOUNTS_VIEW}
ALTER TABLE runs ADD COLUMN operator VARCHAR;
ALTER TABLE runs ADD COLUMN rules_versions JSON;
ALTER TABLE authors ADD COLUMN last_checked_at VARCHAR;
UPDATE authors SET last_checked_at = last_refresh_at;
ALTER TABLE raw_lookups ADD COLUMN raw_file JSON;
""",
    # handle_outcomes without its primary key (see the module doc); same columns, same rows
    3: f"""
DROP VIEW flagged_accounts;
ALTER TABLE handle_outcomes RENAME TO handle_outcomes_v2;
CREATE TABLE handle_outcomes (
    run_id VARCHAR NOT NULL,
    {columns_sql(OUTCOMES_SCHEMA)}
);
INSERT INTO handle_outcomes SELECT * FROM handle_outcomes_v2;
DROP TABLE handle_outcomes_v2;
{_FLAGGED_ACCOUNTS_VIEW}
""",
    # the per-handle identifiers stored uncompressed (PER_HANDLE_IDENTIFIERS); same rows
    4: f"""
DROP VIEW flagged_accounts;
{_rebuilt("handle_outcomes", OUTCOMES_SCHEMA, PER_HANDLE_IDENTIFIERS)}
{_FLAGGED_ACCOUNTS_VIEW}
{_rebuilt("run_seeds", RUN_SEEDS_SCHEMA, PER_HANDLE_IDENTIFIERS)}
""",
    # freshness and the usage ledger; the checks of earlier runs are filled from their outcomes
    5: """
CREATE TABLE handle_checks (
    handle_key VARCHAR NOT NULL USING COMPRESSION uncompressed,
    handle VARCHAR NOT NULL USING COMPRESSION uncompressed,
    outcome VARCHAR NOT NULL,
    id VARCHAR USING COMPRESSION uncompressed,
    checked_at VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL
);
INSERT INTO handle_checks
SELECT o.handle_key, o.handle, o.outcome, o.id, l.requested_at, o.run_id
FROM handle_outcomes o JOIN raw_lookups l ON l.run_id = o.run_id AND l.batch_id = o.batch_id
WHERE o.outcome <> 'failed'
QUALIFY row_number() OVER (PARTITION BY o.handle_key ORDER BY l.requested_at DESC) = 1;
CREATE TABLE api_usage (
    run_id VARCHAR NOT NULL,
    batch_id BIGINT NOT NULL,
    requested_at VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,
    requests INTEGER NOT NULL,
    user_ids VARCHAR[] NOT NULL
);
""",
    # X List reads and their pages (discovery from Lists)
    6: """
CREATE TABLE list_reads (
    read_id VARCHAR PRIMARY KEY,
    endpoint VARCHAR NOT NULL,
    resource_id VARCHAR NOT NULL,
    started_at VARCHAR NOT NULL,
    finished_at VARCHAR,
    status VARCHAR NOT NULL,
    detail VARCHAR
);
CREATE TABLE list_pages (
    read_id VARCHAR NOT NULL,
    page INTEGER NOT NULL,
    endpoint VARCHAR NOT NULL,
    resource_id VARCHAR NOT NULL,
    pagination_token VARCHAR,
    next_token VARCHAR,
    requested_at VARCHAR NOT NULL,
    status INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    body VARCHAR NOT NULL,
    PRIMARY KEY (read_id, page)
);
""",
}


class SchemaMigration(StoreBase):
    """Brings an opened file to :data:`SCHEMA_VERSION` and checks its kind."""

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
            with self._transaction(f"migrating {self.path} to schema {target}"):
                self._con.execute(_MIGRATIONS[target])
                if target == 1:
                    self._con.execute("INSERT INTO dataset_info VALUES ('kind', ?)", [self.kind])
                self._con.execute(
                    "INSERT OR REPLACE INTO dataset_info VALUES ('schema_version', ?)",
                    [str(target)],
                )

    def _check_kind(self) -> None:
        stored = self._info("kind")
        if stored != self.kind:
            raise StoreError(
                f"{self.path} is a {stored} dataset; this run's source makes {self.kind} data. "
                "Synthetic and live profiles never share a file: use the matching --data-dir."
            )
