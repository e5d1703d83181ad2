"""``--dataset auto|live|synthetic|PATH``: how every reading command finds the dataset file.

``live`` is ``DATA_DIR/influx.duckdb``, ``synthetic`` the embedded server's
``DATA_DIR/synthetic/influx.duckdb``; ``auto`` (the default) takes the live one if it exists,
else the synthetic one, and says which on stderr; anything else is the path of a dataset file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import click

from influx_etl.config import OutputPaths

DATASET_CHOICES: Final = ("auto", "live", "synthetic")


def chosen_dataset(dataset: str, data_dir: Path, *, say: bool = True) -> Path:
    """The dataset file ``--dataset`` names (see the module docstring)."""
    outputs = OutputPaths(data_dir=data_dir)
    if dataset == "live":
        return outputs.dataset
    if dataset == "synthetic":
        return outputs.synthetic_dataset
    if dataset != "auto":
        return Path(dataset)
    if outputs.dataset.is_file():
        chosen, why = outputs.dataset, "the live dataset"
    elif outputs.synthetic_dataset.is_file():
        chosen, why = outputs.synthetic_dataset, f"synthetic: no live dataset in {data_dir}"
    else:
        # neither exists: the usual file, so the error names it
        return outputs.dataset
    if say:
        click.echo(f"dataset: {chosen} ({why})", err=True)
    return chosen


def dataset_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--dataset`` and ``--data-dir``; the command receives ``dataset`` as a path."""

    @functools.wraps(command)
    def with_dataset(*args: Any, dataset: str, data_dir: Path, **kwargs: Any) -> Any:
        return command(*args, dataset=chosen_dataset(dataset, data_dir), **kwargs)

    for option in reversed(
        (
            click.option(
                "--dataset",
                default="auto",
                show_default=True,
                metavar="auto|live|synthetic|PATH",
                help="The dataset file: live (DATA_DIR/influx.duckdb), synthetic (the embedded "
                "server's, DATA_DIR/synthetic/influx.duckdb), auto (live if it exists, else "
                "synthetic; says which on stderr) or the path of a dataset file.",
            ),
            click.option(
                "--data-dir",
                type=click.Path(file_okay=False, path_type=Path),
                default=Path("data"),
                show_default=True,
                help="The --data-dir of the harvest (for --dataset auto, live, synthetic).",
            ),
        )
    ):
        with_dataset = option(with_dataset)
    return with_dataset
