"""The HTTP source against the real embedded server on 127.0.0.1 (no HTTP mocking): answers,
retries, rate limits, tokens and the per-user endpoint."""

from __future__ import annotations

import json

import pytest

from influx_etl.apisim import (
    ENDPOINT_USER_BY_USERNAME,
    ApiServerConfig,
    RunningServer,
    handle_status,
    start_server,
    synthetic_handles,
)
from influx_etl.config import Secret
from influx_etl.errors import AuthError
from influx_etl.lookup import profiles, raw_frame
from influx_etl.sources import HttpSource
from influx_etl.sources.fetch import RESPONSES_FIELD
from influx_etl.sources.xclient import XClient
from tests.sources.conftest import RECORDED, http_source, outcomes


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


def per_user_source(base_url: str) -> HttpSource:
    client = XClient(base_url, None, timeout_s=5)
    return HttpSource(client, name="test", kind="simulated", endpoint="per-user")


def test_per_user_lookups_give_the_same_profiles_as_bulk_lookups() -> None:
    """One request per handle on /2/users/by/username/{u}, the same rows as /2/users/by."""
    handles = [*synthetic_handles(60, seed=5), "refused_one"]
    assert {handle_status(h, 5) for h in handles[:60]} == {"active", "not_found", "suspended"}
    config = ApiServerConfig(seed=5, invalid_handles=frozenset({"refused_one"}))
    with start_server(config) as server:
        bulk = http_source(server.base_url).fetch_batch(0, handles)
        per_user = per_user_source(server.base_url).fetch_batch(0, handles)
        counts = server.endpoint_counts
    assert counts[ENDPOINT_USER_BY_USERNAME] == len(handles)
    bulk_rows, per_user_rows = (
        profiles(raw_frame([batch])).drop("fetched_at", "outcome_detail").sort("handle_key")
        for batch in (bulk, per_user)
    )
    assert per_user.ok and per_user_rows.equals(bulk_rows)
    assert set(per_user_rows["outcome"]) == {"found", "not_found", "suspended", "invalid"}


def test_a_per_user_answer_is_stored_in_the_bulk_format_with_the_response_verbatim(
    server: RunningServer,
) -> None:
    batch = per_user_source(server.base_url).fetch_batch(5, ["alice"])
    assert batch.body is not None
    document = json.loads(batch.body)
    assert [user["username"] for user in document["data"]] == ["Alice"]
    (response,) = document[RESPONSES_FIELD]
    assert response["usernames"] == ["alice"]
    assert json.loads(response["body"])["data"]["id"] == "101"  # the single-user document
    assert outcomes(batch) == {"alice": "found"}
