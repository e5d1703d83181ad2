"""``influx-score``: the dataset's scores and ranks, recomputed from the stored metrics.

Thin on purpose: it reads the authors of a dataset file, runs :func:`influx_etl.score.rescored`
and prints the leaders overall and per topic; ``--out`` writes the whole scored table (Parquet).
The dataset itself is not changed: the export computes the same scores when it writes records.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import polars as pl

from influx_etl import export, project, score
from influx_etl.cli.datasets import dataset_options
from influx_etl.errors import ExportError, InfluxError
from influx_etl.store import Store


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@dataset_options
@click.option(
    "--scoring",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    callback=project.scoring_or_default,
    show_default=project.default_help(project.SCORING),
    help="Composite score weights (YAML).",
)
@click.option(
    "--top", type=click.IntRange(1), default=10, show_default=True, help="Rows per ranking."
)
@click.option("--topic", help="Print this topic's ranking instead of the per-topic summary.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every author's scores and ranks here (Parquet).",
)
def main(dataset: Path, scoring: Path, top: int, topic: str | None, out: Path | None) -> None:
    """Recompute the composite score (activity, quality, relevance) and the global and per-topic
    ranks of a dataset, and print the leaders.

    \b
    meta.score, the proxy reach score, is shown as stored; --scoring weighs the composite.
    """
    try:
        weights = score.load_scoring(scoring)
        with Store.open_existing(dataset) as store:
            scored = score.rescored(store.authors(), weights)
            kind = store.kind
        if out is not None:
            export.write_atomically(out, _parquet(scored.select(score.SCORE_COLUMNS)))
    except InfluxError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    w = weights.weights
    click.echo(
        f"{dataset} ({kind}): {scored.height} authors; composite weights activity {w.activity:g}, "
        f"quality {w.quality:g}, relevance {w.relevance:g} ({scoring})"
    )
    if topic is not None:
        ranking = score.topic_ranking(scored, topic).head(top)
        click.echo(f"\n@{topic}: {ranking.height} shown, by rank_topic (score, followers, handle)")
        _print(ranking)
    else:
        click.echo(f"\ntop {top} by composite score")
        _print(score.composite_ranking(scored).head(top))
        summary = score.topic_summary(scored)
        click.echo(f"\ntopics ({summary.height})")
        _print(summary.head(top))
    if out is not None:
        click.echo(f"\nscores: {out}")


def _parquet(frame: pl.DataFrame) -> bytes:
    try:
        return export.parquet_bytes(frame)
    except pl.exceptions.PolarsError as error:
        raise ExportError(f"cannot write the scores as Parquet: {error}") from None


def _print(frame: pl.DataFrame) -> None:
    if frame.is_empty():
        click.echo("  (none)")
        return
    with pl.Config(
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="NOTHING",
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=200,
        fmt_str_lengths=40,
    ):
        click.echo(str(frame))
