"""The import merge: records from outside the dataset's lookups inserted or updated by id."""

from __future__ import annotations

import polars as pl

from influx_etl.errors import StoreError
from influx_etl.frames import AUTHORS_SCHEMA
from influx_etl.store.connection import StoreBase
from influx_etl.store.integration import Integration


class ImportMerge(StoreBase):
    """:meth:`upsert_authors`, what ``influx import`` writes through."""

    def upsert_authors(self, run_id: str, authors: pl.DataFrame) -> Integration:
        """Insert or update ``authors`` (AUTHORS_SCHEMA) by id, in one transaction, removing none.

        For records that come from outside this dataset's lookups (``influx import``): every
        column is compared, ``sources`` included, so a record already stored as given is
        ``unchanged`` and importing the same records again changes nothing. Banned authors are
        skipped (``banned``). An author whose handle (ignoring case) belongs to another id here
        (one not given another handle by these authors: a swap is fine), or a live dataset given
        a profile of the embedded server (:meth:`refuse_embedded_server_authors`), raises
        StoreError and changes nothing.
        Each author written gets a metrics snapshot at its ``last_refresh_at``.
        """
        self.refuse_embedded_server_authors(authors)
        arriving = authors.select(list(AUTHORS_SCHEMA)).with_columns(
            handle_key=pl.col("handle").str.to_lowercase()
        )
        columns = [*AUTHORS_SCHEMA, "handle_key"]
        changed = " OR ".join(f"a.{c} IS DISTINCT FROM u.{c}" for c in AUTHORS_SCHEMA)
        metrics = "followers_count, following_count, tweet_count, listed_count, like_count"
        con = self._con
        con.register("upsert_arriving", arriving)
        try:
            with self._transaction(f"upserting authors (run {run_id}) into {self.path}"):
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE upserting AS SELECT * FROM upsert_arriving "
                    "WHERE id NOT IN (SELECT id FROM banned_authors WHERE id IS NOT NULL) "
                    "AND handle_key NOT IN (SELECT handle_key FROM banned_authors)"
                )
                banned = arriving.height - self._count("SELECT count(*) FROM upserting")
                taken = con.execute(
                    "SELECT u.handle, a.id FROM upserting u JOIN authors a "
                    "ON a.handle_key = u.handle_key AND a.id <> u.id "
                    # a holder given another handle here frees this one (two authors swapped)
                    "WHERE a.id NOT IN (SELECT id FROM upserting) ORDER BY u.handle_key LIMIT 3"
                ).fetchall()
                if taken:
                    held = ", ".join(f"@{handle} (held by id {holder})" for handle, holder in taken)
                    raise StoreError(
                        f"{self.path}: handle(s) already belong to other authors: {held}; "
                        "nothing was written"
                    )
                new = self._count(
                    "SELECT count(*) FROM upserting WHERE id NOT IN (SELECT id FROM authors)"
                )
                updated = self._count(
                    f"SELECT count(*) FROM authors a JOIN upserting u USING (id) WHERE {changed}"
                )
                assignments = ", ".join(f"{c} = u.{c}" for c in columns if c != "id")
                con.execute(
                    f"UPDATE authors a SET {assignments}, last_changed_run = ?, "
                    f"last_checked_at = u.last_refresh_at FROM upserting u "
                    f"WHERE a.id = u.id AND ({changed})",
                    [run_id],
                )
                listed = ", ".join(columns)
                con.execute(
                    f"INSERT INTO authors ({listed}, first_seen_run, last_changed_run, "
                    f"last_checked_at) SELECT {listed}, ?, ?, last_refresh_at FROM upserting "
                    "WHERE id NOT IN (SELECT id FROM authors)",
                    [run_id, run_id],
                )
                con.execute(
                    f"INSERT OR IGNORE INTO author_snapshots (id, fetched_at, run_id, handle, "
                    f"{metrics}, media_count, score) SELECT id, last_refresh_at, ?, handle, "
                    f"{metrics}, media_count, score FROM upserting "
                    "WHERE last_refresh_at IS NOT NULL",
                    [run_id],
                )
                con.execute("DROP TABLE upserting")
        finally:
            con.unregister("upsert_arriving")
        unchanged = arriving.height - banned - new - updated
        return Integration(new=new, updated=updated, unchanged=unchanged, removed=0, banned=banned)
