"""The HTTP side of the embedded server: routing, methods, the token, stopping."""

from __future__ import annotations

import httpx
import pytest

from influx_etl.apisim import (
    ENDPOINT_OTHER,
    ENDPOINT_USER_BY_USERNAME,
    ApiServerConfig,
    RunningServer,
    start_server,
)
from influx_etl.config import Secret
from tests.apisim.serving import assert_rate_headers, handles_with, lookup


def test_single_user_endpoint(server: RunningServer) -> None:
    active = handles_with("active", 1)[0]
    missing = handles_with("not_found", 1)[0]
    suspended = handles_with("suspended", 1)[0]
    url = f"{server.base_url}/2/users/by/username"
    found = httpx.get(f"{url}/{active.upper()}", params={"user.fields": "public_metrics"})
    assert found.status_code == 200
    assert found.json()["data"]["username"].lower() == active
    assert "public_metrics" in found.json()["data"]
    not_found = httpx.get(f"{url}/{missing}")
    assert not_found.status_code == 200
    assert not_found.json()["errors"][0]["detail"] == (
        f"Could not find user with username: [{missing}]."
    )
    assert httpx.get(f"{url}/{suspended}").json()["errors"][0]["title"] == "Forbidden"
    assert httpx.get(f"{url}/bad-name").status_code == 400
    assert server.endpoint_counts[ENDPOINT_USER_BY_USERNAME] == 4


def test_unknown_path_and_method(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/2/tweets")
    assert response.status_code == 404
    assert response.json()["status"] == 404
    assert_rate_headers(response)
    posted = httpx.post(f"{server.base_url}/2/users/by", content=b"usernames=a")
    assert posted.status_code == 405
    assert server.endpoint_counts[ENDPOINT_OTHER] == 2


def test_required_token() -> None:
    config = ApiServerConfig(required_token=Secret("s3cret-token"), rate_limit=5)
    with start_server(config) as running:
        anonymous = lookup(running, ["someone"])
        wrong = httpx.get(
            f"{running.base_url}/2/users/by",
            params={"usernames": "someone"},
            headers={"Authorization": "Bearer nope"},
        )
        right = httpx.get(
            f"{running.base_url}/2/users/by",
            params={"usernames": "someone"},
            headers={"Authorization": "Bearer s3cret-token"},
        )
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert anonymous.json()["title"] == "Unauthorized"
    assert_rate_headers(anonymous)
    assert right.status_code == 200
    assert right.headers["x-rate-limit-remaining"] == "4", "401s do not consume the budget"


def test_stop_is_idempotent_and_closes_the_port() -> None:
    running = start_server(ApiServerConfig())
    url = running.base_url
    assert url.startswith("http://127.0.0.1:")
    running.stop()
    running.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/2/users/by", params={"usernames": "someone"})
