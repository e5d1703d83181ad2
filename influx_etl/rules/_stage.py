"""How the brand and risk stages run over a frame: a cheap pass over every row, detailed passes over
the few rows that can match, and the results put back in place.

Most profiles match no rule. Each stage therefore computes, for every row, a handful of cheap
columns (lower-casing, literal Aho-Corasick scans, comparisons) that together form a *superset* of
the rows each part of the rules can match; the regex passes, link parsing and list work then run
on those rows only (one filtered frame per part: names, bios, links, patterns), keyed by row
number, and the results are joined back. Rows outside every superset get the stage's no-match
values, which is exactly what the detailed pass would have given them.

:func:`run` drives one stage or both: their cheap columns share one pass (the lower-cased bio is
made once), their parts are computed together, in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import polars as pl

from influx_etl.rules._text import MAY_HOLD_LINK, bio_links

ROW = "__row"
"""Row number column of the working frames."""
LOWER_BIO = "__lower_bio"
BIO_LINK_HIT = "__bio_link_hit"
LOWER_USERNAME = "__lower_username"
LOWER_NAME = "__lower_name"
"""Shared cheap columns: the lower-case bio, whether it may hold a link, the lower-case handle and
display name."""

FOUND = pl.col("outcome") == "found"
_SHARED = (
    {
        LOWER_BIO: pl.col("description").str.to_lowercase(),
        LOWER_USERNAME: pl.col("username").str.to_lowercase(),
        LOWER_NAME: pl.col("name").str.to_lowercase(),
    },
    {BIO_LINK_HIT: pl.col(LOWER_BIO).str.contains(MAY_HOLD_LINK).fill_null(False)},
)


class Stage(Protocol):
    """A compiled rules file: what the driver needs to run it."""

    @property
    def inputs(self) -> tuple[str, ...]:
        """Profile columns it reads."""
        ...

    @property
    def cheap(self) -> dict[str, pl.Expr]:
        """Columns computed on every row (they may use the shared ones, :data:`LOWER_BIO`...)."""
        ...

    @property
    def defaults(self) -> dict[str, pl.Expr]:
        """The stage's output columns, with the values of a found row no rule matches."""
        ...

    def parts(self, rows: pl.DataFrame) -> list[pl.LazyFrame]:
        """The detailed passes over the numbered rows (each: ``ROW`` and one list column)."""
        ...

    def detailed(self, rows: pl.DataFrame, parts: list[pl.DataFrame]) -> pl.LazyFrame:
        """``ROW`` and the output columns of the rows the parts (or cheap signals) matched."""
        ...


def run(profiles: pl.DataFrame, stages: Sequence[Stage]) -> pl.DataFrame:
    """``profiles`` with the output columns of every stage added."""
    inputs = list(dict.fromkeys(column for stage in stages for column in stage.inputs))
    cheap = {name: expr for stage in stages for name, expr in stage.cheap.items()}
    frame = profiles.lazy().select(pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW), *inputs)
    for step in (*_SHARED, cheap):
        frame = frame.with_columns(**step)
    rows = frame.collect()
    planned = [stage.parts(rows) for stage in stages]
    computed = iter(pl.collect_all([part for parts in planned for part in parts]))
    found = [[next(computed) for _ in parts] for parts in planned]
    results = pl.collect_all(
        [stage.detailed(rows, parts) for stage, parts in zip(stages, found, strict=True)]
    )
    added = [
        _placed(profiles, result, stage.defaults)
        for stage, result in zip(stages, results, strict=True)
    ]
    return profiles.hstack([column for frame in added for column in frame.get_columns()])


def part(
    rows: pl.DataFrame,
    where: pl.Expr,
    column: str,
    matches: pl.Expr,
    made: Mapping[str, pl.Expr] | None = None,
) -> pl.LazyFrame:
    """The list ``matches`` computed on the rows ``where`` holds, as ``column``, with the row
    numbers; rows where it comes out empty are left out. ``made`` are columns computed on those
    rows first, for ``matches`` to read: an expression used several times in ``matches`` would be
    computed once per use (no common subexpression is shared there)."""
    picked = rows.lazy().filter(where)
    if made:
        picked = picked.with_columns(**made)
    return picked.select(ROW, matches.alias(column)).filter(pl.col(column).list.len() > 0)


def matched(
    rows: pl.DataFrame,
    parts: Sequence[pl.DataFrame],
    columns: Sequence[str],
    also: pl.Expr,
    carried: Sequence[str],
) -> pl.LazyFrame:
    """The rows some part matched or ``also`` holds: their ``carried`` columns and each part's
    list column (``columns``, in order; empty where the part did not match)."""
    # the rows ``also`` holds as a lazy filter of the row numbers alone: an eager filter of
    # ``rows`` copied every column of them first (docs/performance.md)
    also_rows = rows.lazy().filter(also).select(ROW).collect()
    keys = pl.concat([*(frame.select(ROW) for frame in parts), also_rows])
    frame = (
        rows.lazy().select(ROW, *carried).filter(pl.col(ROW).is_in(keys[ROW].unique().implode()))
    )
    for extra in parts:
        frame = frame.join(extra.lazy(), on=ROW, how="left", maintain_order="left")
    return frame.with_columns(
        pl.col(name).fill_null(pl.lit([], dtype=pl.List(pl.String))) for name in columns
    )


def joined_lists(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """The list columns ``columns`` of ``frame`` joined row by row, as ``pl.concat_list`` would
    (the lists hold no nulls). ``concat_list`` builds its output row by row, which is slower
    (docs/performance.md); here the lists are exploded into one long column and gathered back per
    row, in order."""
    value = "__value"
    long = pl.concat(
        frame.lazy().select(ROW, pl.col(name).alias(value)).explode(value, empty_as_null=True)
        for name in columns
    )
    # the first list has a row for every row of ``frame`` (an empty list gives a null), so the
    # groups come in the order of ``frame``
    grouped = long.group_by(ROW, maintain_order=True).agg(pl.col(value).drop_nulls())
    return grouped.collect()[value]


def flat_links(rows: pl.DataFrame, where: pl.Expr, url: pl.Expr, urls: pl.Expr) -> pl.LazyFrame:
    """One row per link (``ROW``, ``link``) of the rows ``where`` holds: the ``url``, each element
    of the list ``urls`` and each link written in the bio (:func:`~influx_etl.rules._text.bio_links`
    of :data:`LOWER_BIO`, on the rows :data:`BIO_LINK_HIT` picks)."""
    picked = rows.lazy().filter(where)
    single = picked.select(ROW, url.alias("link"))
    listed = picked.select(ROW, urls.alias("link")).explode("link")
    # the bio's links are extracted on the rows whose bio may hold one only: a masked column
    # (null elsewhere) still cost the list steps on every picked row (docs/performance.md)
    written = (
        picked.filter(pl.col(BIO_LINK_HIT))
        .select(ROW, bio_links(pl.col(LOWER_BIO)).alias("link"))
        .explode("link")
    )
    return pl.concat([single, listed, written]).filter(pl.col("link").is_not_null())


def link_matches(
    links: pl.LazyFrame, tests: Sequence[tuple[str, pl.Expr]], column: str
) -> pl.LazyFrame:
    """Per row, the names of the ``tests`` that hold for at least one of its ``links``
    (:func:`flat_links`), in the order of ``tests``; rows where none holds are left out.

    Each test is a plain expression over the flat ``link`` column; the booleans are then folded
    back per row.
    """
    tested = links.select(
        ROW, *(test.fill_null(False).alias(f"__test{i}") for i, (_, test) in enumerate(tests))
    )
    # the tests run on the flat column above, the aggregation only folds booleans (an expression
    # inside agg() would run once per group)
    per_row = tested.group_by(ROW).agg(pl.col(f"__test{i}").any() for i in range(len(tests)))
    names = pl.concat_list(
        pl.when(pl.col(f"__test{index}")).then(pl.lit(name))
        for index, (name, _) in enumerate(tests)
    ).list.drop_nulls()
    return per_row.select(ROW, names.alias(column)).filter(pl.col(column).list.len() > 0)


def _placed(
    profiles: pl.DataFrame, detailed: pl.DataFrame, defaults: Mapping[str, pl.Expr]
) -> pl.DataFrame:
    """The columns of ``detailed`` (keyed by row number) laid out along ``profiles``: found rows
    missing from ``detailed`` get ``defaults``, rows that were not found nulls.

    ``detailed`` gets two more rows, the defaults and nulls; each profile row knows its row of that
    table (a scatter of the row numbers) and all columns are gathered at once. A ``when`` that
    chose between the default and a gather per column cost more (the list columns' ``when``
    copies every list; docs/performance.md).
    """
    columns = detailed.select(list(defaults))
    absent = detailed.height
    nulls = pl.DataFrame().select(
        pl.lit(None, dtype=dtype).alias(name) for name, dtype in columns.schema.items()
    )
    no_match = pl.DataFrame().select(**defaults).cast(columns.schema)
    table = pl.concat([columns, no_match, nulls], rechunk=True)
    slots = pl.repeat(absent, profiles.height, dtype=pl.UInt32, eager=True).scatter(
        detailed[ROW], pl.arange(0, absent, eager=True, dtype=pl.UInt32)
    )
    position = pl.when(FOUND.fill_null(False)).then(slots).otherwise(absent + 1)
    return table.select(pl.all().gather(profiles.select(position).to_series()))
