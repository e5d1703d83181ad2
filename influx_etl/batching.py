"""The batches of a lookup: seeds cut into batches, sent to a source, and read back by handle.

The plan (:mod:`influx_etl.plan`) decides which handles are looked up; this module numbers them
into batches (:func:`batched`), hands them to the source's workers (:func:`raw_batches`) and reads
back which handle each stored raw batch requested (:func:`requested_handles`), which the lookup
stage (:mod:`influx_etl.lookup`) answers.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
from joblib import Parallel, delayed

from influx_etl.sources.base import LookupSource, RawBatch, WorkerLookupSource


def batched(seeds: pl.DataFrame, batch_size: int, first_batch_id: int = 0) -> pl.DataFrame:
    """The seeds with a ``batch_id`` column: consecutive runs of ``batch_size`` handles,
    numbered from ``first_batch_id`` (a resumed run numbers its new batches after the stored)."""
    return seeds.with_columns(
        (pl.int_range(pl.len()) // batch_size + first_batch_id).cast(pl.Int64).alias("batch_id")
    )


def batch_handles(batches: pl.DataFrame) -> list[tuple[int, list[str]]]:
    """``(batch_id, handles)`` pairs in batch order, for the workers."""
    grouped = batches.group_by("batch_id", maintain_order=True).agg(pl.col("handle"))
    return list(zip(grouped["batch_id"].to_list(), grouped["handle"].to_list(), strict=True))


def raw_batches(
    source: LookupSource, work: list[tuple[int, list[str]]], parallel_batches: int
) -> Iterator[RawBatch]:
    """Fetch every batch with ``parallel_batches`` joblib workers, yielding each as it completes.

    Threads by default: the work is waiting on the network, and threads share one connection
    pool and one rate-limit budget. A :class:`~influx_etl.sources.WorkerLookupSource`
    (``--backend loky`` or ``dask``) runs the batches in other processes or on a cluster, with
    one budget for all of them; either way each batch comes back here, to be committed by this
    process alone.
    """
    if not work:
        return
    if isinstance(source, WorkerLookupSource):
        yield from source.batches(work, parallel_batches)
        return
    parallel = Parallel(
        n_jobs=min(parallel_batches, len(work)),
        backend="threading",
        return_as="generator_unordered",
    )
    yield from parallel(
        delayed(source.fetch_batch)(batch_id, handles) for batch_id, handles in work
    )


def requested_handles(raw: pl.DataFrame, *extra: str) -> pl.DataFrame:
    """One row per handle each raw batch asked for: ``batch_id``, ``default_origin``,
    ``fetched_at`` (the batch's request time), ``handle``, ``handle_key`` and ``extra`` columns
    of the batch."""
    return (
        raw.select(
            "batch_id",
            *extra,
            "default_origin",
            pl.col("requested_at").alias("fetched_at"),
            pl.col("handles").alias("handle"),
        )
        .explode("handle")
        .with_columns(pl.col("handle").str.to_lowercase().alias("handle_key"))
    )
