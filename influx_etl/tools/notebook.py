"""What every notebook in ``notebooks/`` does first: find the project and its dataset."""

from __future__ import annotations

from pathlib import Path


def project_root(start: Path) -> Path:
    """The nearest folder holding ``pyproject.toml`` at or above ``start`` (else ``start``):
    notebooks run from ``notebooks/`` in JupyterLab but from elsewhere in tests."""
    return next((p for p in (start, *start.parents) if (p / "pyproject.toml").is_file()), start)


def located_dataset(root: Path, override: str | None = None) -> Path:
    """The dataset ``make harvest`` leaves: ``data/influx.duckdb`` (live lookups) if it exists,
    else ``data/synthetic/influx.duckdb``; ``override`` (a path) replaces both."""
    candidates = (
        [Path(override)]
        if override
        else [root / "data/influx.duckdb", root / "data/synthetic/influx.duckdb"]
    )
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"no dataset at {', '.join(map(str, candidates))}: run `make harvest` first "
            "(without a token it fills data/synthetic/), or set INFLUX_DATASET"
        )
    return found
