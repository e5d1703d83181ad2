"""A run's integration: its outcomes settled, its authors staged and merged, in one transaction.

:class:`RunIntegration` is what :meth:`~influx_etl.store.Store.run_integration` yields: outcomes and
authors arrive in parts, are settled (one outcome per handle, one ``found`` per user id) and merged
into ``authors``. A failed run leaves ``authors`` exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl

from influx_etl.frames import AUTHORS_SCHEMA, OUTCOMES_SCHEMA, SEED_REJECTS_SCHEMA
from influx_etl.store.connection import NEW_ROWS, ROW_GROUP_ROWS, StoreBase
from influx_etl.store.schema import columns_sql

_CHANGE_IGNORED = {"sources", "last_refresh_at"}
"""Columns that change on every lookup; an author whose other columns are equal is unchanged."""


@dataclass(frozen=True)
class Integration:
    """What one run changed in the dataset."""

    new: int
    updated: int
    unchanged: int
    removed: int
    banned: int = 0


@dataclass(frozen=True)
class OutcomeCounts:
    """A run's outcome rows: how many, and how many per ``outcome`` and per ``decision``."""

    total: int
    outcomes: dict[str, int]
    decisions: dict[str, int]


class RunIntegration:
    """A run's writes inside :meth:`Store.run_integration`'s transaction.

    Outcomes and authors arrive in parts (one per chunk of a prefetched file); authors are staged
    in a temporary table until :meth:`merge_authors`, so a run never holds its kept authors in
    memory (docs/performance.md).
    """

    def __init__(self, store: StoreBase, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self._con = store._con
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE run_authors ({columns_sql(AUTHORS_SCHEMA)}, "
            "handle_key VARCHAR, part BIGINT, valid BOOLEAN)"
        )
        self._unwritten = pl.DataFrame(schema=OUTCOMES_SCHEMA)
        """Outcome rows held back until they fill a row group (see :data:`ROW_GROUP_ROWS`)."""

    def add_outcomes(self, outcomes: pl.DataFrame) -> None:
        """Append outcome rows (OUTCOMES_SCHEMA). A handle may come again in a later call (a
        prefetched file read in chunks that holds it twice): :meth:`settle` keeps the last.

        Rows are written in whole row groups; the rest (fewer than :data:`ROW_GROUP_ROWS`)
        waits for the next call, or for whatever reads the outcomes back."""
        unwritten = pl.concat(
            [self._unwritten, outcomes.select(list(OUTCOMES_SCHEMA))], rechunk=False
        )
        whole = unwritten.height // ROW_GROUP_ROWS * ROW_GROUP_ROWS
        self._write_outcomes(unwritten.head(whole))
        self._unwritten = unwritten.slice(whole)

    def flush_outcomes(self) -> None:
        """Write the outcome rows held back by :meth:`add_outcomes` (every reader of the
        outcomes calls it first, as does the transaction's end)."""
        unwritten, self._unwritten = self._unwritten, self._unwritten.clear()
        self._write_outcomes(unwritten)

    def _write_outcomes(self, outcomes: pl.DataFrame) -> None:
        if outcomes.height:
            self.store._insert_frame(
                f"INSERT INTO handle_outcomes SELECT $run, {', '.join(OUTCOMES_SCHEMA)} "
                f"FROM {NEW_ROWS}",
                # in one piece: rows held back plus a new chunk, inserted as two pieces, leave
                # partly filled row groups all the same (docs/performance.md)
                outcomes.rechunk(),
                {"run": self.run_id},
            )

    def add_authors(
        self, authors: pl.DataFrame, *, part: int = 0, invalid_ids: pl.Series | None = None
    ) -> None:
        """Stage authors (AUTHORS_SCHEMA) for :meth:`merge_authors`. ``part`` numbers the
        chunk they came from (a later part supersedes an earlier one's author of the same handle:
        :meth:`keep_settled_authors`); ``invalid_ids`` failed validation and stay out of the
        dataset, but are staged so that a later part can supersede them too."""
        store = self.store
        store.refuse_embedded_server_authors(authors)
        invalid = pl.lit(False)
        if invalid_ids is not None:
            invalid = pl.col("id").is_in(invalid_ids.cast(pl.String).implode())
        staged = authors.select(list(AUTHORS_SCHEMA)).with_columns(valid=~invalid)
        columns = ", ".join(AUTHORS_SCHEMA)
        store._insert_frame(
            f"INSERT INTO run_authors SELECT {columns}, lower(handle), $part, valid "
            f"FROM {NEW_ROWS}",
            staged,
            {"part": part},
        )

    def settle(self) -> int:
        """Keep one outcome per handle, the last added, and one ``found`` outcome per user id
        (:meth:`_mark_duplicate_ids`); returns how many outcomes were dropped or marked."""
        self.flush_outcomes()
        duplicates = self.store._count(
            "SELECT count(*) - count(DISTINCT handle_key) FROM handle_outcomes WHERE run_id = ?",
            [self.run_id],
        )
        if duplicates:
            # rows appended later have larger row ids: the last added wins
            self._con.execute(
                "DELETE FROM handle_outcomes WHERE run_id = $run AND rowid NOT IN ("
                "  SELECT max(rowid) FROM handle_outcomes WHERE run_id = $run GROUP BY handle_key)",
                {"run": self.run_id},
            )
        return duplicates + self._mark_duplicate_ids()

    def _mark_duplicate_ids(self) -> int:
        """One user id answering several handles of the run (one account under two handles: a
        rename between two fetches, a file assembled from two exports): the id stays with one
        handle, the others get the outcome ``duplicate_id`` (their detail names the handle that
        kept it). The rule: the answer whose ``username`` is the handle asked for (ignoring
        case) wins; otherwise the latest fetched (its batch's request time); answers fetched
        together (one document, one prefetched file) go to the handle that sorts first."""
        run = {"run": self.run_id}
        found = "FROM handle_outcomes WHERE run_id = $run AND outcome = 'found' AND id IS NOT NULL"
        duplicates = self.store._count(f"SELECT count(*) - count(DISTINCT id) {found}", run)
        if not duplicates:
            return 0
        # a replay's batches are the replayed run's
        raw_run = "coalesce((SELECT json_extract_string(args, '$.replay_of') FROM runs "
        raw_run += "WHERE run_id = $run), $run)"
        self._con.execute(
            "UPDATE handle_outcomes SET outcome = 'duplicate_id', decision = 'duplicate_id', "
            "outcome_detail = format('id {} is kept by @{}, which the lookup answered with it "
            "too (one author per id)', ranked.id, ranked.keeper) "
            "FROM (SELECT o.rowid AS row_id, o.id, row_number() OVER same_id AS place, "
            "  first_value(o.handle) OVER same_id AS keeper "
            "  FROM handle_outcomes o LEFT JOIN raw_lookups r "
            f"   ON r.run_id = {raw_run} AND r.batch_id = o.batch_id "
            "  WHERE o.run_id = $run AND o.outcome = 'found' AND o.id IN ("
            f"   SELECT id {found} GROUP BY id HAVING count(*) > 1) "
            "  WINDOW same_id AS (PARTITION BY o.id ORDER BY "
            "   (lower(o.username) = o.handle_key) DESC NULLS LAST, "
            "   r.requested_at DESC NULLS LAST, o.handle_key)) ranked "
            "WHERE handle_outcomes.rowid = ranked.row_id AND ranked.place > 1",
            run,
        )
        return duplicates

    def keep_settled_authors(self) -> pl.DataFrame:
        """After :meth:`settle`, drop every staged author that is not its handle's last part or
        whose handle's settled outcome is not ``kept`` with its id; returns ``id`` and ``part``
        of the staged authors that failed validation and remain (the invalid records to
        report)."""
        self.flush_outcomes()
        self._con.execute(
            "DELETE FROM run_authors WHERE rowid NOT IN ("
            "  SELECT arg_max(rowid, part) FROM run_authors GROUP BY handle_key)"
            " OR NOT EXISTS (SELECT 1 FROM handle_outcomes o WHERE o.run_id = ?"
            "   AND o.decision = 'kept' AND o.handle_key = run_authors.handle_key"
            "   AND o.id = run_authors.id)",
            [self.run_id],
        )
        return self.store._frame("SELECT id, part FROM run_authors WHERE NOT valid")

    def counts(self) -> OutcomeCounts:
        """How many outcomes were added, and how many have each outcome and each decision."""
        self.flush_outcomes()
        frame = self.store._frame(
            "SELECT 'outcome' AS what, outcome AS value, count(*) AS n FROM handle_outcomes "
            "WHERE run_id = $run GROUP BY outcome UNION ALL "
            "SELECT 'decision', decision, count(*) FROM handle_outcomes WHERE run_id = $run "
            "GROUP BY decision",
            {"run": self.run_id},
        )

        def tally(what: str) -> dict[str, int]:
            rows = frame.filter(pl.col("what") == what)
            return dict(zip(rows["value"].to_list(), rows["n"].to_list(), strict=True))

        outcomes = tally("outcome")
        return OutcomeCounts(sum(outcomes.values()), outcomes, tally("decision"))

    def merge_authors(
        self, seed_rejects: pl.DataFrame, rejected_ids: pl.Series | None = None
    ) -> Integration:
        """Merge the staged valid authors (:meth:`add_authors`) into the dataset and record the
        run's seed rejects.

        Authors are inserted or updated by id; their ``seed_files`` and ``topic_tags`` add to what
        the dataset already knew (a handle found again through another seed file keeps both).
        ``rejected_ids`` — by default the ids of this run's outcomes decided below threshold,
        brand or risk — leave the dataset. Banned authors never enter. An existing author holding
        the handle of an incoming different id was renamed and its handle reused: the newer
        lookup wins. Every author looked up gets a snapshot of its metrics.
        """
        self.flush_outcomes()
        store, con, run_id = self.store, self._con, self.run_id
        con.execute(
            "CREATE OR REPLACE TEMP VIEW arriving AS "
            "SELECT * EXCLUDE (part, valid) FROM run_authors WHERE valid"
        )
        arriving_count = store._count("SELECT count(*) FROM arriving")
        views: dict[str, pl.DataFrame] = {
            "run_seed_rejects": seed_rejects.select(list(SEED_REJECTS_SCHEMA)),
        }
        if rejected_ids is not None:
            views["rejected_ids"] = pl.DataFrame({"id": rejected_ids.cast(pl.String)})
        try:
            for name, frame in views.items():
                con.register(name, frame)
            if rejected_ids is None:
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE rejected AS SELECT id FROM handle_outcomes "
                    "WHERE run_id = ? AND id IS NOT NULL "
                    "AND decision IN ('below_threshold', 'brand', 'risk')",
                    [run_id],
                )
            else:
                con.execute("CREATE OR REPLACE TEMP TABLE rejected AS SELECT id FROM rejected_ids")
            con.execute(
                "CREATE OR REPLACE TEMP TABLE incoming AS SELECT i.* REPLACE ("
                "  list_sort(list_distinct(list_concat(coalesce(a.seed_files, []::VARCHAR[]),"
                "    i.seed_files))) AS seed_files,"
                "  list_sort(list_distinct(list_concat(coalesce(a.topic_tags, []::VARCHAR[]),"
                "    i.topic_tags))) AS topic_tags)"
                " FROM arriving i LEFT JOIN authors a USING (id)"
                " WHERE i.id NOT IN (SELECT id FROM banned_authors WHERE id IS NOT NULL)"
                "   AND i.handle_key NOT IN (SELECT handle_key FROM banned_authors)"
            )
            banned = arriving_count - store._count("SELECT count(*) FROM incoming")
            new = store._count(
                "SELECT count(*) FROM incoming WHERE id NOT IN (SELECT id FROM authors)"
            )
            changed = " OR ".join(
                f"a.{c} IS DISTINCT FROM i.{c}" for c in AUTHORS_SCHEMA if c not in _CHANGE_IGNORED
            )
            updated = store._count(
                f"SELECT count(*) FROM authors a JOIN incoming i USING (id) WHERE {changed}"
            )
            unchanged = arriving_count - banned - new - updated
            leaving = (
                "FROM authors WHERE id IN (SELECT id FROM rejected) "
                "OR (handle_key IN (SELECT handle_key FROM incoming) "
                "    AND id NOT IN (SELECT id FROM incoming))"
            )
            removed = store._count(f"SELECT count(*) {leaving}")
            con.execute(f"DELETE {leaving}")
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
                "UPDATE authors a SET last_checked_at = i.sources[1].fetched_at "
                "FROM incoming i WHERE a.id = i.id"
            )
            con.execute(
                "INSERT OR IGNORE INTO author_snapshots SELECT id, sources[1].fetched_at, ?, "
                "handle, followers_count, following_count, tweet_count, listed_count, like_count, "
                "media_count, score FROM incoming",
                [run_id],
            )
            con.execute(
                f"INSERT INTO seed_rejects SELECT ?, {', '.join(SEED_REJECTS_SCHEMA)} "
                "FROM run_seed_rejects",
                [run_id],
            )
            con.execute("DROP TABLE incoming")
            con.execute("DROP TABLE rejected")
            con.execute("DROP VIEW arriving")
        finally:
            for name in views:
                con.unregister(name)
        return Integration(
            new=new, updated=updated, unchanged=unchanged, removed=removed, banned=banned
        )


class Integrating(StoreBase):
    """Runs a run's integration in one transaction."""

    def integrate(
        self,
        run_id: str,
        outcomes: pl.DataFrame,
        authors: pl.DataFrame,
        rejected_ids: pl.Series | None,
        seed_rejects: pl.DataFrame,
    ) -> Integration:
        """Record the run's outcomes and merge its authors, in one transaction (see
        :class:`RunIntegration`, which a run writing its outcomes in chunks uses directly).
        ``rejected_ids`` default to the ids of the outcomes decided below threshold, brand or
        risk."""
        with self.run_integration(run_id) as integration:
            integration.add_outcomes(outcomes)
            integration.settle()
            integration.add_authors(authors)
            return integration.merge_authors(seed_rejects, rejected_ids)

    @contextmanager
    def run_integration(self, run_id: str) -> Iterator[RunIntegration]:
        """One transaction holding everything a run writes after its lookups: its outcomes
        (added at once or chunk by chunk), then its authors. Committed when the block ends,
        rolled back if it raises: a failed run leaves the dataset exactly as it was. A resumed
        run's outcomes replace those of its first attempt."""
        con = self._con
        with self._transaction(f"integrating run {run_id} into {self.path}", timed_commit=True):
            con.execute("DELETE FROM handle_outcomes WHERE run_id = ?", [run_id])
            con.execute("DELETE FROM seed_rejects WHERE run_id = ?", [run_id])
            integration = RunIntegration(self, run_id)
            yield integration
            integration.flush_outcomes()
            # the staged authors are merged by now: not kept in memory (or spilled) after the run
            con.execute("DROP TABLE IF EXISTS run_authors")
