"""The store fixture: a live dataset file in ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest

from influx_etl.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store.open(tmp_path / "data" / "influx.duckdb", "live") as opened:
        yield opened
