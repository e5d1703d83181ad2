"""Helpers of the embedded server's tests: handles of a known status, a lookup, rate headers."""

from __future__ import annotations

import httpx

from influx_etl.apisim import RunningServer, handle_status, synthetic_handles

SEED = 7
RATE_HEADERS = ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")


def handles_with(status: str, count: int, seed: int = SEED) -> list[str]:
    found = [h for h in synthetic_handles(5000, seed=seed) if handle_status(h, seed) == status]
    assert len(found) >= count
    return found[:count]


def lookup(server: RunningServer, usernames: list[str], **params: str) -> httpx.Response:
    query = {"usernames": ",".join(usernames), **params}
    return httpx.get(f"{server.base_url}/2/users/by", params=query, timeout=10)


def assert_rate_headers(response: httpx.Response) -> None:
    for name in RATE_HEADERS:
        assert response.headers[name].isdigit(), name
