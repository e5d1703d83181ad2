"""Scores and global rank of authors.

Both scores are proxies computed from a single user lookup (no timeline data), in [0, 100], rounded
to 2 decimals:

``score`` (reach)::

    score = min(100, 20 * log10(max(followers / 1000, 1)) + boost)

20 points per decade of followers above 1,000 (10k -> 20, 100k -> 40, 1M -> 60, 10M -> 80,
100M -> 100), plus ``boost`` = :data:`VERIFIED_BOOST` (10) when the record's ``verified`` is
``blue``, ``business``, ``org`` or ``legacy`` (0 for ``none``). Null followers count as 0.

``quality_score`` (curated attention: how many people file the account in a list, per follower)::

    quality_score = min(100, 100 * log10(1 + 1000 * listed / followers) / log10(21))

A list ratio of 2% (20 lists per 1,000 followers) or more scores 100, 1% about 79, 0.1% about 23.
It is 0 when followers is 0 or null, or listed is null.

``rank_global``: 1 = best, ordering by ``score`` desc, ``followers_count`` desc, ``handle`` asc,
``id`` asc (:data:`RANK_ORDER`), a total order, so ranks are unique and stable between runs.

``rank_topic``: for every topic tag of an author, the author's position among the authors carrying
that tag, in the same order as ``rank_global`` (so a topic's ranking is the global ranking
filtered to the topic). A list of ``{topic, rank}`` in ``topic_tags`` order.

Composite score
---------------
``composite_score`` weighs three components, each in [0, 100] and computed from stored metrics
only, with the weights of a scoring file (``lists/scoring.yml``, :func:`load_scoring`)::

    composite = (w_a * activity + w_q * quality + w_r * relevance) / (w_a + w_q + w_r)

``activity_score`` (posting rate over the account's life)::

    posts_per_day = tweet_count / max(1, days from created_at to last_refresh_at)
    activity = min(100, 100 * log10(1 + posts_per_day) / log10(1 + full_posts_per_day))

Measured up to the last refresh, not to now, so that a score never changes while the data does
not. 0 when ``tweet_count`` or ``created_at`` is unknown. A user lookup carries no timeline, so
this is a lifetime average: an account that went quiet keeps its past rate.

``quality`` is ``quality_score`` as stored: the list ratio above for looked-up authors; an imported
record keeps the original project's value. Null counts as 0.

``relevance_score`` (how central the author is to the curation)::

    relevance = 50 * min(1, seed lists naming the author / full_seed_lists)
              + 50 * min(1, topic tags / full_topics)

An imported record names no seed list until a run finds it in one, so it scores on topics only.

``meta.score`` stays the proxy reach score: it is what the original schema calls the record's
score, what the export is sorted by, and comparable with the original project's records.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn

import polars as pl
import yaml

from influx_etl.errors import ScoringError
from influx_etl.yaml_files import UniqueKeyLoader, key_lines, unknown_key_message

VERIFIED_BOOST: Final = 10.0
"""Points added to ``score`` for any verification (``verified`` other than ``none``)."""

BOOSTED_VERIFICATIONS: Final = ("blue", "business", "org", "legacy")

POINTS_PER_FOLLOWER_DECADE: Final = 20.0
FOLLOWER_FLOOR: Final = 1_000
"""Followers at or below this earn no reach points."""

FULL_QUALITY_LISTS_PER_1000: Final = 20.0
"""Lists per 1,000 followers that earn the full ``quality_score``."""

RANK_ORDER: Final = (("score", True), ("followers_count", True), ("handle", False), ("id", False))
"""``(column, descending)`` pairs of the ranking (and export) order."""


def reach_score() -> pl.Expr:
    """``score`` from ``followers_count`` and ``verified`` (formula in the module docstring)."""
    followers = pl.col("followers_count").fill_null(0).cast(pl.Float64)
    decades = (followers / FOLLOWER_FLOOR).clip(lower_bound=1.0).log10()
    boost = (
        pl.when(pl.col("verified").is_in(BOOSTED_VERIFICATIONS))
        .then(pl.lit(VERIFIED_BOOST))
        .otherwise(pl.lit(0.0))
    )
    return (POINTS_PER_FOLLOWER_DECADE * decades + boost).clip(upper_bound=100.0).round(2)


def list_quality_score() -> pl.Expr:
    """``quality_score`` from ``listed_count`` and ``followers_count`` (see module docstring)."""
    followers = pl.col("followers_count").cast(pl.Float64)
    listed = pl.col("listed_count").cast(pl.Float64)
    ratio_score = (
        100.0
        * (1.0 + 1000.0 * listed / followers).log10()
        / math.log10(1.0 + FULL_QUALITY_LISTS_PER_1000)
    )
    return (
        pl.when((followers > 0) & listed.is_not_null())
        .then(ratio_score.clip(lower_bound=0.0, upper_bound=100.0))
        .otherwise(pl.lit(0.0))
        .round(2)
    )


def scored(authors: pl.DataFrame) -> pl.DataFrame:
    """``authors`` + ``score`` and ``quality_score`` (Float64); needs ``followers_count``,
    ``listed_count`` and ``verified``."""
    return authors.with_columns(score=reach_score(), quality_score=list_quality_score())


def in_rank_order(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by :data:`RANK_ORDER` (needs ``score``, ``followers_count``, ``handle``,
    ``id``); nulls sort last."""
    columns = [column for column, _ in RANK_ORDER]
    descending = [flag for _, flag in RANK_ORDER]
    return frame.sort(columns, descending=descending, nulls_last=True, maintain_order=True)


def ranked(authors: pl.DataFrame) -> pl.DataFrame:
    """Scored ``authors`` + ``rank_global`` (Int64, 1 = best), rows returned in rank order."""
    return in_rank_order(authors).with_columns(
        rank_global=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
    )


RANK_TOPIC_DTYPE: Final = pl.List(pl.Struct({"topic": pl.String, "rank": pl.Int64}))
"""``rank_topic``: the author's rank within each of its topics, in ``topic_tags`` order."""

RANKING_COLUMNS: Final = ("id", "handle", "score", "followers_count", "topic_tags")
"""Every column ``rank_global`` and ``rank_topic`` depend on (:func:`rank_columns`)."""

RANK_COLUMNS: Final = ("rank_global", "rank_topic")
"""The columns that need the whole dataset; every other score is computed row by row."""


def _topic_ranks(ordered: pl.DataFrame) -> pl.DataFrame:
    """``id, rank_topic`` of the authors with a topic tag; ``ordered`` is in rank order."""
    per_topic = (
        ordered.select("id", pl.col("topic_tags").alias("topic"))
        .explode("topic")
        .drop_nulls("topic")
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("topic"))
    )
    return per_topic.group_by("id", maintain_order=True).agg(
        pl.struct("topic", "rank").alias("rank_topic")
    )


def _with_topic_ranks(authors: pl.DataFrame, topic_ranks: pl.DataFrame) -> pl.DataFrame:
    return (
        authors.join(topic_ranks, on="id", how="left", maintain_order="left")
        .with_columns(pl.col("rank_topic").fill_null(pl.lit([], dtype=RANK_TOPIC_DTYPE)))
        .cast({"rank_topic": RANK_TOPIC_DTYPE})
    )


def topic_ranked(authors: pl.DataFrame) -> pl.DataFrame:
    """``authors`` (needing the :data:`RANK_ORDER` columns and ``topic_tags``) + ``rank_topic``.

    ``rank_topic`` is a List of ``{topic, rank}`` structs in ``topic_tags`` order (empty without
    tags); rows keep their order.
    """
    ordered = in_rank_order(authors.select(RANKING_COLUMNS))
    return _with_topic_ranks(authors, _topic_ranks(ordered))


def rank_columns(ranking: pl.DataFrame) -> pl.DataFrame:
    """``id, rank_global, rank_topic`` of every author, rows in rank order.

    ``ranking`` is the whole dataset, of which only :data:`RANKING_COLUMNS` are read: ranks are
    the one part of scoring that needs every author, so a caller can rank a slim frame and score,
    render and check the other columns a slice at a time (:func:`with_ranks`).
    """
    ordered = ranked(ranking.select(RANKING_COLUMNS))
    return _with_topic_ranks(ordered.select("id", "rank_global"), _topic_ranks(ordered))


def with_ranks(authors: pl.DataFrame, ranks: pl.DataFrame) -> pl.DataFrame:
    """``authors`` + ``rank_global`` and ``rank_topic`` from ``ranks`` (:func:`rank_columns`, or
    rows of it), matched by ``id``; rows in the order of ``ranks``, authors it lacks left out."""
    authors = authors.drop(RANK_COLUMNS, strict=False)
    return (
        ranks.select("id", *RANK_COLUMNS)
        .join(authors, on="id", how="inner", maintain_order="left")
        .select(*authors.columns, *RANK_COLUMNS)
    )


# --------------------------------------------------------------------------------------------------
# composite score


@dataclass(frozen=True)
class CompositeWeights:
    """Relative weights of the composite's components (>= 0, not all 0)."""

    activity: float
    quality: float
    relevance: float

    @property
    def total(self) -> float:
        return self.activity + self.quality + self.relevance


@dataclass(frozen=True)
class Scoring:
    """A loaded scoring file: the composite's weights and the components' saturation points."""

    weights: CompositeWeights = CompositeWeights(activity=0.3, quality=0.4, relevance=0.3)
    full_posts_per_day: float = 10.0
    """Lifetime posts per day that earn the full activity score."""
    full_seed_lists: int = 3
    """Seed lists naming an author that earn the full seed-list half of relevance."""
    full_topics: int = 3
    """Topic tags that earn the full topic half of relevance."""
    version: str | None = None
    source: str = field(default="<defaults>", compare=False)
    """The file the weights came from, for messages; not part of their identity."""


_TIMESTAMP: Final = "%Y-%m-%dT%H:%M:%S%.f%#z"


def _timestamp(name: str) -> pl.Expr:
    return pl.col(name).str.to_datetime(_TIMESTAMP, time_zone="UTC", strict=False)


def activity_score(scoring: Scoring) -> pl.Expr:
    """``activity_score`` from ``tweet_count``, ``created_at`` and ``last_refresh_at``."""
    seconds = (_timestamp("last_refresh_at") - _timestamp("created_at")).dt.total_seconds()
    days = (seconds.cast(pl.Float64) / 86_400.0).clip(lower_bound=1.0)
    per_day = pl.col("tweet_count").cast(pl.Float64).clip(lower_bound=0.0) / days
    scaled = 100.0 * (1.0 + per_day).log10() / math.log10(1.0 + scoring.full_posts_per_day)
    return scaled.clip(0.0, 100.0).fill_null(0.0).fill_nan(0.0).round(2)


def relevance_score(scoring: Scoring) -> pl.Expr:
    """``relevance_score`` from the number of ``seed_files`` and ``topic_tags``."""

    def saturating(column: str, full: int) -> pl.Expr:
        count = pl.col(column).list.len().fill_null(0).cast(pl.Float64)
        return (count / float(full)).clip(upper_bound=1.0)

    lists = saturating("seed_files", scoring.full_seed_lists)
    topics = saturating("topic_tags", scoring.full_topics)
    return (50.0 * lists + 50.0 * topics).round(2)


def composite_score(scoring: Scoring) -> pl.Expr:
    """``composite_score`` from ``activity_score``, ``quality_score`` and ``relevance_score``."""
    weights = scoring.weights
    weighted = (
        weights.activity * pl.col("activity_score")
        + weights.quality * pl.col("quality_score").cast(pl.Float64).fill_null(0.0)
        + weights.relevance * pl.col("relevance_score")
    )
    return (weighted / weights.total).clip(0.0, 100.0).round(2)


def composite_scored(authors: pl.DataFrame, scoring: Scoring) -> pl.DataFrame:
    """``authors`` + ``activity_score``, ``relevance_score`` and ``composite_score`` (Float64).

    Needs ``tweet_count``, ``created_at``, ``last_refresh_at``, ``quality_score``, ``seed_files``
    and ``topic_tags``.
    """
    return authors.with_columns(
        activity_score=activity_score(scoring), relevance_score=relevance_score(scoring)
    ).with_columns(composite_score=composite_score(scoring))


def rescored(authors: pl.DataFrame, scoring: Scoring) -> pl.DataFrame:
    """The dataset's authors as exported: stored scores + composite, ``rank_global`` and
    ``rank_topic``; rows in rank order. ``score`` and ``quality_score`` are kept as stored (an
    imported record keeps the original project's)."""
    return with_ranks(composite_scored(authors, scoring), rank_columns(authors))


def topic_summary(scored: pl.DataFrame) -> pl.DataFrame:
    """Per topic of :func:`rescored` authors: ``topic, authors, leader`` (rank 1's handle),
    ``leader_score``, ``mean_composite``; most authors first, then topic."""
    exploded = scored.select(
        "handle", "score", "composite_score", pl.col("rank_topic").alias("entry")
    ).explode("entry")
    per_topic = exploded.drop_nulls("entry").with_columns(
        topic=pl.col("entry").struct.field("topic"), rank=pl.col("entry").struct.field("rank")
    )
    return (
        per_topic.group_by("topic")
        .agg(
            authors=pl.len(),
            leader=pl.col("handle").sort_by("rank").first(),
            leader_score=pl.col("score").sort_by("rank").first(),
            mean_composite=pl.col("composite_score").mean().round(2),
        )
        .sort(["authors", "topic"], descending=[True, False])
    )


# -- the scoring file -----------------------------------------------------------------------------

_FILE_KEYS = ("version", "weights", "activity", "relevance")
_WEIGHT_KEYS = ("activity", "quality", "relevance")
_ACTIVITY_KEYS = ("full_posts_per_day",)
_RELEVANCE_KEYS = ("full_seed_lists", "full_topics")


class _Reader:
    """Reads checked values out of the parsed file, raising ScoringError with the key path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[str, int] = {}

    def fail(self, key: str | None, message: str) -> NoReturn:
        raise ScoringError(message, file=self.path, key=key, line=self.lines.get(key or ""))

    def section(self, value: Any, key: str | None, valid: tuple[str, ...]) -> dict[str, Any]:
        if value is None and key is not None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping with keys {', '.join(valid)}, got {_kind(value)}")
        for name in value:
            if name not in valid:
                where = f"{key}.{name}" if key else str(name)
                self.fail(where, unknown_key_message(name, valid))
        return value

    def number(self, value: Any, key: str, *, positive: bool) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            self.fail(key, f"expected a number, got {_kind(value)}")
        if math.isinf(value) or value < 0 or (positive and value == 0):
            self.fail(key, f"expected a finite number {'> 0' if positive else '>= 0'}, got {value}")
        return float(value)

    def count(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(key, f"expected a whole number >= 1, got {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 60 else shown[:57] + '...'}"


def load_scoring(path: Path | str) -> Scoring:
    """Read and check a scoring file (the structure of ``lists/scoring.yml``).

    ``weights`` needs all of ``activity``, ``quality`` and ``relevance`` (numbers >= 0, not all
    0); ``activity`` and ``relevance`` may be left out (defaults of :class:`Scoring`). An unknown
    key, a repeated key or a value of the wrong type raises :class:`ScoringError` naming the file,
    the key and what was expected.
    """
    path = Path(path)
    read = _Reader(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        read.fail(None, f"cannot read the scoring file ({error.strerror or error})")
    except UnicodeDecodeError as error:
        read.fail(None, f"not UTF-8 text ({error.reason})")
    try:
        document = yaml.load(text, Loader=UniqueKeyLoader)
        read.lines = key_lines(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        read.fail(None, f"not valid YAML{where}: {problem}")
    top = read.section(document, None, _FILE_KEYS)
    if top.get("weights") is None:
        read.fail("weights", f"required: a mapping with {', '.join(_WEIGHT_KEYS)}")
    weights_section = read.section(top["weights"], "weights", _WEIGHT_KEYS)
    for name in _WEIGHT_KEYS:
        if name not in weights_section:
            read.fail(f"weights.{name}", "required: a number >= 0 (0 leaves the component out)")
    weights = CompositeWeights(
        **{
            name: read.number(weights_section[name], f"weights.{name}", positive=False)
            for name in _WEIGHT_KEYS
        }
    )
    if weights.total == 0:
        read.fail("weights", "expected at least one weight > 0, got all 0")
    activity = read.section(top.get("activity"), "activity", _ACTIVITY_KEYS)
    relevance = read.section(top.get("relevance"), "relevance", _RELEVANCE_KEYS)
    defaults = Scoring()
    version = top.get("version")
    if isinstance(version, bool) or not isinstance(version, str | int | float | dt.date | None):
        read.fail("version", f"expected a string, number or date, got {_kind(version)}")
    return Scoring(
        weights=weights,
        full_posts_per_day=(
            read.number(
                activity["full_posts_per_day"], "activity.full_posts_per_day", positive=True
            )
            if "full_posts_per_day" in activity
            else defaults.full_posts_per_day
        ),
        full_seed_lists=(
            read.count(relevance["full_seed_lists"], "relevance.full_seed_lists")
            if "full_seed_lists" in relevance
            else defaults.full_seed_lists
        ),
        full_topics=(
            read.count(relevance["full_topics"], "relevance.full_topics")
            if "full_topics" in relevance
            else defaults.full_topics
        ),
        version=None if version is None else str(version),
        source=str(path),
    )


SCORE_COLUMNS: Final = (
    "id",
    "handle",
    "followers_count",
    "topic_tags",
    "score",
    "quality_score",
    "activity_score",
    "relevance_score",
    "composite_score",
    "rank_global",
    "rank_topic",
)
"""The columns of ``influx-score --out``: identity, every score and every rank."""


def composite_ranking(scored: pl.DataFrame) -> pl.DataFrame:
    """:func:`rescored` authors by ``composite_score`` desc (then rank order), numbered."""
    return (
        scored.sort(
            ["composite_score", "rank_global"], descending=[True, False], maintain_order=True
        )
        .with_columns(rank_composite=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
        .select(
            "rank_composite",
            "handle",
            "composite_score",
            "activity_score",
            "quality_score",
            "relevance_score",
            "score",
            "rank_global",
        )
    )


def topic_ranking(scored: pl.DataFrame, topic: str) -> pl.DataFrame:
    """The authors of one topic tag of :func:`rescored` authors, in ``rank_topic`` order."""
    return (
        scored.select(
            "handle",
            "score",
            "followers_count",
            "composite_score",
            "rank_global",
            pl.col("rank_topic")
            .list.eval(pl.element().filter(pl.element().struct.field("topic") == topic))
            .list.first()
            .struct.field("rank")
            .alias("rank_topic"),
        )
        .drop_nulls("rank_topic")
        .sort("rank_topic")
        .select("rank_topic", pl.exclude("rank_topic"))
    )
