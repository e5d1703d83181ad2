"""``--dataset auto|live|synthetic|PATH``: one convention, one helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from influx_etl.cli.datasets import chosen_dataset


def test_auto_takes_live_else_synthetic_and_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, synthetic = tmp_path / "influx.duckdb", tmp_path / "synthetic/influx.duckdb"
    assert chosen_dataset("auto", tmp_path) == live  # neither: the usual file, for the error
    synthetic.parent.mkdir()
    synthetic.touch()
    assert chosen_dataset("auto", tmp_path) == synthetic
    assert "synthetic: no live dataset" in capsys.readouterr().err
    live.touch()
    assert chosen_dataset("auto", tmp_path) == live
    assert "live dataset" in capsys.readouterr().err


def test_live_synthetic_and_a_path(tmp_path: Path) -> None:
    assert chosen_dataset("live", tmp_path) == tmp_path / "influx.duckdb"
    assert chosen_dataset("synthetic", tmp_path) == tmp_path / "synthetic/influx.duckdb"
    assert chosen_dataset("elsewhere/x.duckdb", tmp_path) == Path("elsewhere/x.duckdb")
