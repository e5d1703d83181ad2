"""Fixtures of the embedded server's tests: a running server, a small recorded population."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from influx_etl.apisim import ORIGIN_FIELD, ApiServerConfig, RunningServer, start_server
from tests.apisim.serving import SEED


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(ApiServerConfig(seed=SEED)) as running:
        yield running


@pytest.fixture
def tiny_population(tmp_path: Path) -> Path:
    lines = [
        json.dumps({"id": "101", "username": "MixedCase", "name": "Mixed", "verified": "blue"}),
        json.dumps({"data": {"id": "102", "username": "Wrapped_One", "name": "Wrapped"}}),
        "{this is not json",
        json.dumps({"id": "103", "name": "no username here"}),
        "",
        json.dumps(
            {
                "id": "104",
                "username": "pinner",
                "name": "Pinner",
                "pinned_tweet_id": "1285070962874966017",
                "public_metrics": {"followers_count": 12},
            }
        ),
        json.dumps({"id": "105", "username": "replayed", "name": "R", ORIGIN_FIELD: "synthetic"}),
    ]
    path = tmp_path / "population.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
