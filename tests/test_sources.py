"""Lookup sources against the real embedded server on 127.0.0.1 (no HTTP mocking)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.client import XClient
from influx_etl.config import LookupSettings, Secret
from influx_etl.errors import AuthError, ConfigError, SourceError
from influx_etl.lookup import profiles, raw_frame
from influx_etl.sources import HttpSource, PrefetchedSource, open_source

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


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(ApiServerConfig(population=RECORDED, synthetic=False)) as running:
        yield running


def http_source(base_url: str, token: Secret | None = None, attempts: int = 4) -> HttpSource:
    client = XClient(base_url, token, timeout_s=5)
    return HttpSource(
        client, name="test", kind="simulated", max_attempts=attempts, backoff_base_s=0.01
    )


def test_a_batch_comes_back_as_the_api_document(server: RunningServer) -> None:
    batch = http_source(server.base_url).fetch_batch(3, ["ALICE", "bob", "nobody"])
    assert batch.ok and batch.status == 200 and batch.batch_id == 3
    assert "x-rate-limit-remaining" in batch.rate_limit
    rows = profiles(raw_frame([batch])).sort("handle_key")
    assert rows.select("handle_key", "outcome", "username").rows() == [
        ("alice", "found", "Alice"),
        ("bob", "found", "Bob"),
        ("nobody", "not_found", None),
    ]
    assert rows["origin"].to_list()[:2] == ["recorded", "recorded"]


def test_transient_server_errors_are_retried() -> None:
    config = ApiServerConfig(population=RECORDED, synthetic=False, fail_first_n=2, fail_status=503)
    with start_server(config) as server:
        batch = http_source(server.base_url).fetch_batch(0, ["alice"])
        assert batch.ok and batch.attempts == 3
        assert server.status_counts[503] == 2


def test_a_batch_that_keeps_failing_is_recorded_not_raised() -> None:
    config = ApiServerConfig(population=RECORDED, fail_first_n=10, fail_status=502)
    with start_server(config) as server:
        batch = http_source(server.base_url, attempts=2).fetch_batch(5, ["alice", "bob"])
    assert not batch.ok and batch.attempts == 2
    assert batch.error is not None and "HTTP 502" in batch.error
    assert set(profiles(raw_frame([batch]))["outcome"]) == {"failed"}


def test_rate_limited_requests_wait_for_the_window_and_succeed() -> None:
    config = ApiServerConfig(population=RECORDED, synthetic=False, rate_limit=1, window_s=1.0)
    with start_server(config) as server:
        source = http_source(server.base_url)
        first = source.fetch_batch(0, ["alice"])
        second = source.fetch_batch(1, ["bob"])
        assert first.ok and second.ok
        assert second.attempts >= 2 and server.status_counts[429] >= 1


def test_a_bad_token_stops_the_run_without_showing_the_token() -> None:
    config = ApiServerConfig(population=RECORDED, required_token="the-right-token-123")
    with start_server(config) as server:
        source = http_source(server.base_url, token=Secret("wrong-token-456789"))
        with pytest.raises(AuthError) as caught:
            source.fetch_batch(0, ["alice"])
        assert server.status_counts[401] == 1  # no retry
    message = str(caught.value)
    assert "X_BEARER_TOKEN" in message and "wrong-token-456789" not in message


def test_the_right_token_is_sent_as_a_bearer_header() -> None:
    config = ApiServerConfig(population=RECORDED, required_token="the-right-token-123")
    with start_server(config) as server:
        assert (
            http_source(server.base_url, token=Secret("the-right-token-123"))
            .fetch_batch(0, ["bob"])
            .ok
        )


def test_prefetched_users_answer_like_the_api(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text(
        json.dumps(RECORDED["alice"])
        + "\n"
        + json.dumps({"data": RECORDED["bob"]})
        + "\n"
        + "not json at all\n"
        + json.dumps({"name": "no id or username"})
        + "\n",
        encoding="utf-8",
    )
    batch = PrefetchedSource(path).fetch_batch(0, ["alice", "BOB", "carol"])
    rows = profiles(raw_frame([batch])).sort("handle_key")
    assert rows.select("handle_key", "outcome", "id", "origin").rows() == [
        ("alice", "found", "101", "prefetched"),
        ("bob", "found", "102", "prefetched"),
        ("carol", "not_found", None, None),
    ]


def test_prefetched_real_users(shared_real_users: Path) -> None:
    users = [json.loads(line) for line in shared_real_users.read_text().splitlines()]
    source = PrefetchedSource(shared_real_users)
    batch = source.fetch_batch(0, [u["username"].upper() for u in users[:100]])
    found = profiles(raw_frame([batch]))
    assert (found["outcome"] == "found").all()
    assert found["id"].to_list() == [u["id"] for u in users[:100]]


def test_auto_without_a_token_starts_the_embedded_server() -> None:
    with open_source(LookupSettings(source="auto")) as source:
        assert source.kind == "simulated"
        batch = source.fetch_batch(0, ["someone_new"])
        assert batch.status == 200


def test_x_api_without_a_token_is_a_clear_error() -> None:
    with (
        pytest.raises(ConfigError, match="X_BEARER_TOKEN"),
        open_source(LookupSettings(source="x-api")),
    ):
        pass


def test_unknown_source_lists_the_valid_ones() -> None:
    with (
        pytest.raises(ConfigError, match="auto, x-api, embedded"),
        open_source(LookupSettings(source="ftp://x")),
    ):
        pass


def test_missing_prefetched_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with (
        pytest.raises(SourceError, match=r"nope\.jsonl"),
        open_source(LookupSettings(source=f"prefetched:{missing}")),
    ):
        pass


def test_every_source_yields_the_same_profiles(tmp_path: Path) -> None:
    """The pipeline can't tell sources apart: a server and a file with the same users agree."""
    path = tmp_path / "users.jsonl"
    path.write_text("\n".join(json.dumps(u) for u in RECORDED.values()) + "\n", encoding="utf-8")
    handles = ["alice", "bob", "zed"]
    with start_server(ApiServerConfig(population=RECORDED, synthetic=False)) as server:
        from_server = profiles(raw_frame([http_source(server.base_url).fetch_batch(0, handles)]))
    from_file = profiles(raw_frame([PrefetchedSource(path).fetch_batch(0, handles)]))
    columns = ["handle_key", "outcome", "id", "username", "followers_count"]
    assert (
        from_server.select(columns)
        .sort("handle_key")
        .equals(from_file.select(columns).sort("handle_key"))
    )
    assert pl.Series(from_server["origin"]).drop_nulls().to_list() == ["recorded", "recorded"]
