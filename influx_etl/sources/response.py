"""The API's response format as Polars reads it: user objects, error entries and documents.

Both readers of answers use these types: the lookup stage decoding stored documents
(:mod:`influx_etl.lookup`) and the reader of prefetched users files
(:mod:`influx_etl.sources.prefetched`). :func:`error_outcome_expr` applies the one classification
of error entries (:data:`~influx_etl.sources.base.ERROR_RULES`) to their columns.
"""

from __future__ import annotations

import polars as pl

from influx_etl.frames import PUBLIC_METRICS
from influx_etl.sources.base import ERROR_RULES, INPUT_DAMAGE_FIELD, UNCLASSIFIED_OUTCOME, ErrorRule

_URL_ENTITY = pl.Struct({"urls": pl.List(pl.Struct({"expanded_url": pl.String}))})
USER_DTYPE = pl.Struct(
    {
        "id": pl.String,
        "username": pl.String,
        "name": pl.String,
        "description": pl.String,
        "created_at": pl.String,
        "location": pl.String,
        "url": pl.String,
        "profile_image_url": pl.String,
        "protected": pl.Boolean,
        # The legacy boolean; some recorded payloads carry the type here ("blue"): read as text.
        "verified": pl.String,
        "verified_type": pl.String,
        "pinned_tweet_id": pl.String,
        "public_metrics": pl.Struct({metric: pl.Int64 for metric in PUBLIC_METRICS}),
        "entities": pl.Struct({"url": _URL_ENTITY, "description": _URL_ENTITY}),
        "_influx_origin": pl.String,
    }
)
"""The fields of a user object the pipeline reads (``_influx_origin``: the package's own)."""
ERROR_DTYPE = pl.Struct(
    {
        "value": pl.String,
        "resource_id": pl.String,
        "title": pl.String,
        "detail": pl.String,
        "type": pl.String,
    }
)
"""The fields of an ``errors[]`` entry the pipeline reads."""
TWEET_DTYPE = pl.Struct({"id": pl.String, "created_at": pl.String})
"""The fields of an included post (a pinned one) the pipeline reads."""
RESPONSE_DTYPE = pl.Struct(
    {
        "data": pl.List(USER_DTYPE),
        "errors": pl.List(ERROR_DTYPE),
        "includes": pl.Struct({"tweets": pl.List(TWEET_DTYPE)}),
        INPUT_DAMAGE_FIELD: pl.Struct({"file": pl.String, "broken_lines": pl.List(pl.Int64)}),
    }
)
"""The part of a ``/2/users/by`` document the pipeline reads."""


def error_outcome_expr() -> pl.Expr:
    """The outcome of each error entry (the :data:`ERROR_DTYPE` columns ``title``, ``type`` and
    ``detail``), as :func:`~influx_etl.sources.base.error_outcome` gives it to one entry."""
    return pl.coalesce(
        *(pl.when(_meets(rule)).then(pl.lit(rule.outcome)) for rule in ERROR_RULES),
        pl.lit(UNCLASSIFIED_OUTCOME),
    )


def _meets(rule: ErrorRule) -> pl.Expr:
    met = pl.col("title") == rule.title
    if rule.problem is not None:
        met = met | (pl.col("type") == rule.problem)
    if rule.word is not None:
        met = met | pl.col("detail").str.to_lowercase().str.contains(rule.word, literal=True)
    return met.fill_null(False)
