"""What the source tests share: recorded users, the embedded server on 127.0.0.1, an HTTP
source on it, and the outcomes a batch gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.config import Secret
from influx_etl.lookup import profiles, raw_frame
from influx_etl.sources import HttpSource, RawBatch
from influx_etl.sources.xclient import XClient

RECORDED = {
    "alice": {
        "id": "101",
        "username": "Alice",
        "name": "Alice A",
        "public_metrics": {"followers_count": 60000},
    },
    "bob": {
        "id": "102",
        "username": "Bob",
        "name": "Bob B",
        "public_metrics": {"followers_count": 10},
    },
}


SYNTHETIC_HANDLES = [f"handle_{i:03d}" for i in range(40)]


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(ApiServerConfig(population=RECORDED, synthetic=False)) as running:
        yield running


def http_source(base_url: str, token: Secret | None = None, attempts: int = 4) -> HttpSource:
    client = XClient(base_url, token, timeout_s=5)
    return HttpSource(
        client, name="test", kind="simulated", max_attempts=attempts, backoff_base_s=0.01
    )


def outcomes(batch: RawBatch) -> dict[str, str]:
    rows = profiles(raw_frame([batch]))
    return dict(zip(rows["handle_key"].to_list(), rows["outcome"].to_list(), strict=True))
