"""Request accounting: each endpoint's rate-limit window and headers, and the counters."""

from __future__ import annotations

import threading
import time

import httpx

from influx_etl.apisim import (
    ENDPOINT_USER_BY_USERNAME,
    ENDPOINT_USERS_BY,
    UNENFORCED_RATE_LIMIT,
    ApiServerConfig,
    RunningServer,
    start_server,
)
from tests.apisim.serving import SEED, lookup


def test_rate_limit_answers_429_past_the_budget() -> None:
    with start_server(ApiServerConfig(rate_limit=3, seed=SEED)) as running:
        responses = [lookup(running, ["someone"]) for _ in range(4)]
        other_endpoint = httpx.get(f"{running.base_url}/2/users/by/username/someone")
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["x-rate-limit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert {r.headers["x-rate-limit-limit"] for r in responses} == {"3"}
    resets = {int(r.headers["x-rate-limit-reset"]) for r in responses}
    assert len(resets) == 1 and resets.pop() >= int(time.time())
    assert responses[3].json() == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    assert other_endpoint.status_code == 200, "each endpoint has its own budget"


def test_rate_limit_window_reopens() -> None:
    with start_server(ApiServerConfig(rate_limit=2, window_s=0.5)) as running:
        statuses = [lookup(running, ["someone"]).status_code for _ in range(10)]
        assert 429 in statuses
        time.sleep(0.6)
        assert lookup(running, ["someone"]).status_code == 200


def test_without_rate_limit_nothing_is_enforced(server: RunningServer) -> None:
    responses = [lookup(server, ["someone"]) for _ in range(25)]
    assert {r.status_code for r in responses} == {200}
    assert responses[-1].headers["x-rate-limit-limit"] == str(UNENFORCED_RATE_LIMIT)
    assert int(responses[-1].headers["x-rate-limit-remaining"]) == UNENFORCED_RATE_LIMIT - 25


def test_counters_are_consistent_under_concurrency(server: RunningServer) -> None:
    def worker() -> None:
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(10):
                client.get("/2/users/by", params={"usernames": "alpha,beta,gamma"})

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = server.stats()
    assert stats.requests == server.requests_served == 80
    assert stats.by_endpoint == {ENDPOINT_USERS_BY: 80}
    assert stats.usernames == 240


def test_windows_open_at_a_whole_second_and_are_counted() -> None:
    with start_server(ApiServerConfig(rate_limit=5, window_s=1.0)) as running:
        first = lookup(running, ["someone"])
        assert running.stats().windows == {ENDPOINT_USERS_BY: 1}
    reset = int(first.headers["x-rate-limit-reset"])
    assert reset - 1 <= time.time() < reset + 1


def test_an_endpoints_own_limit_replaces_the_common_one() -> None:
    config = ApiServerConfig(endpoint_rate_limits={ENDPOINT_USER_BY_USERNAME: 1})
    with start_server(config) as running:
        single = [httpx.get(f"{running.base_url}/2/users/by/username/someone") for _ in range(2)]
        bulk = [lookup(running, ["someone"]) for _ in range(3)]
    assert [r.status_code for r in single] == [200, 429]
    assert {r.headers["x-rate-limit-limit"] for r in single} == {"1"}
    assert {r.status_code for r in bulk} == {200}, "only the endpoint with a limit is enforced"
    assert bulk[-1].headers["x-rate-limit-limit"] == str(UNENFORCED_RATE_LIMIT)
