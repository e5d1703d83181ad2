from __future__ import annotations

from pathlib import Path

import pytest

from influx_etl.tools.notebook import located_dataset, project_root


def test_the_live_dataset_wins_over_the_synthetic_one(tmp_path: Path) -> None:
    synthetic = tmp_path / "data/synthetic/influx.duckdb"
    synthetic.parent.mkdir(parents=True)
    synthetic.touch()
    assert located_dataset(tmp_path) == synthetic
    live = tmp_path / "data/influx.duckdb"
    live.touch()
    assert located_dataset(tmp_path) == live


def test_an_override_replaces_both_and_a_missing_one_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/influx.duckdb").touch()
    other = tmp_path / "other.duckdb"
    with pytest.raises(FileNotFoundError, match="make harvest"):
        located_dataset(tmp_path, str(other))
    other.touch()
    assert located_dataset(tmp_path, str(other)) == other


def test_the_project_root_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").touch()
    (tmp_path / "notebooks").mkdir()
    assert project_root(tmp_path / "notebooks") == tmp_path
