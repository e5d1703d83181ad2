"""Reading a run for the report: the newest by default, a clear error for an unknown one."""

from __future__ import annotations

from pathlib import Path

import pytest

from influx_etl.errors import StoreError
from influx_etl.tools.report_run import read_run
from tests.run_dataset import BuiltDataset, report_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltDataset:
    return report_dataset(tmp_path_factory)


def test_the_newest_run_is_the_default_and_an_unknown_run_is_a_clear_error(
    built: BuiltDataset, tmp_path: Path
) -> None:
    assert read_run(built.path).run["run_id"] == built.second.run_id
    with pytest.raises(StoreError, match=rf"no run 'nope'.*{built.second.run_id}"):
        read_run(built.path, "nope")
    with pytest.raises(StoreError, match="no dataset at"):
        read_run(tmp_path / "missing.duckdb")
