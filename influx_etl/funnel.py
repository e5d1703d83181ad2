"""The funnel of a run: how many seed rows became handles, lookups, decisions and records.

:class:`Funnel` is the one type of the counts (the run's summary, ``runs.counts`` in the
dataset, the report); each count's label lives with its field. :func:`per_seed_file` is the
same funnel per seed file: one run looks up every pending file's handles together
(:mod:`influx_etl.plan`), and a handle in several files counts in each of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

import polars as pl


def _count(label: str) -> Any:
    return field(default=0, metadata={"label": label})


@dataclass(frozen=True, eq=False)
class Funnel(Mapping[str, int]):
    """A run's counts, in funnel order; also a read-only mapping of key to count, equal to any
    mapping with the same counts (the stored ``runs.counts`` read back, say)."""

    seed_rows: int = _count("seed rows read")
    invalid_seed_rows: int = _count("invalid seed rows (reported, skipped)")
    reused: int = _count("reused (fresh outcome)")
    refused_seed_files: int = _count("seed files refused (not UTF-8; see above)")
    broken_input_lines: int = _count("broken lines in the prefetched file (see above)")
    unrequested_users: int = _count("users in answers nobody asked for (ignored)")
    looked_up: int = _count("distinct handles looked up")
    found: int = _count("found")
    not_found: int = _count("not found")
    suspended: int = _count("suspended")
    invalid: int = _count("invalid (rejected by the API)")
    failed: int = _count("failed (retry with a later run)")
    duplicate_id: int = _count("id answered another handle too, which keeps it")
    below_threshold: int = _count("below the entry threshold")
    brand: int = _count("brand / official / media")
    risk: int = _count("risky")
    banned: int = _count("banned (asked to be removed)")
    kept: int = _count("kept")
    invalid_records: int = _count("failed schema validation")
    new: int = _count("new in the dataset")
    updated: int = _count("updated in the dataset")
    unchanged: int = _count("unchanged in the dataset")
    removed: int = _count("removed from the dataset")
    exported: int = _count("exported (whole dataset)")

    def __getitem__(self, key: str) -> int:
        if key not in _KEYS:
            raise KeyError(key)
        value: int = getattr(self, key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __len__(self) -> int:
        return len(_KEYS)

    def as_dict(self) -> dict[str, int]:
        """The counts by key, as the dataset stores them (``runs.counts``)."""
        return asdict(self)

    @classmethod
    def from_counts(cls, counts: Mapping[str, Any]) -> Funnel:
        """The funnel of stored counts; keys a newer or older version wrote are left out."""
        return cls(**{key: int(counts[key]) for key in _KEYS if counts.get(key) is not None})


_KEYS: Final = tuple(f.name for f in fields(Funnel))

FUNNEL_LABELS: Final = tuple((f.name, str(f.metadata["label"])) for f in fields(Funnel))
"""Every count of :class:`Funnel`, in funnel order, with what it means."""

PER_FILE_COLUMNS: Final = (
    ("handles", "handles"),
    ("invalid_rows", "invalid rows"),
    ("reused", "reused"),
    ("looked_up", "looked up"),
    ("kept", "kept"),
    ("below_threshold", "below"),
    ("brand", "brand"),
    ("risk", "risky"),
    ("banned", "banned"),
    ("not_found", "not found"),
    ("suspended", "suspended"),
    ("invalid", "invalid"),
    ("failed", "failed"),
    ("duplicate_id", "duplicate id"),
)
"""The columns of :func:`per_seed_file` after ``seed_file``, with their headings."""

_DECISIONS: Final = tuple(key for key, _ in PER_FILE_COLUMNS[4:])


def per_seed_file(
    seeds: pl.DataFrame, outcomes: pl.DataFrame, rejects: pl.DataFrame
) -> pl.DataFrame:
    """One row per seed file: its distinct handles, invalid rows, how many were reused (a fresh
    stored outcome: ``batch_id`` null) or looked up, and how many ended with each decision.

    ``seeds`` needs ``handle_key`` and ``seed_files``; ``outcomes`` ``handle_key``, ``batch_id``
    and ``decision`` (one row per handle); ``rejects`` ``seed_file``.
    """
    per_handle = (
        seeds.select("handle_key", pl.col("seed_files").alias("seed_file"))
        .explode("seed_file")
        .join(outcomes.select("handle_key", "batch_id", "decision"), on="handle_key", how="left")
    )
    counted = per_handle.group_by("seed_file").agg(
        pl.len().alias("handles"),
        (pl.col("decision").is_not_null() & pl.col("batch_id").is_null()).sum().alias("reused"),
        pl.col("batch_id").is_not_null().sum().alias("looked_up"),
        *((pl.col("decision") == name).sum().alias(name) for name in _DECISIONS),
    )
    invalid_rows = rejects.group_by("seed_file").agg(pl.len().alias("invalid_rows"))
    columns = [key for key, _ in PER_FILE_COLUMNS]
    return (
        counted.join(invalid_rows, on="seed_file", how="full", coalesce=True)
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in columns)
        .select("seed_file", *columns)
        .sort("seed_file")
    )
