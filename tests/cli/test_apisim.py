from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

from influx_etl.apisim import ApiServerConfig, list_graph
from tests.cli import scripts

STARTUP_TIMEOUT_S = 30


def console_script() -> str:
    return scripts.console_script("influx-api-sim")


clean_env = scripts.clean_env


def read_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


@contextmanager
def running_cli(*args: str, env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Start the console script, yield its URL and startup lines, SIGTERM it, expect exit 0."""
    process = subprocess.Popen(
        [console_script(), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        try:
            first = lines.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            pytest.fail("influx-api-sim printed no listening line")
        prefix = "influx-api-sim listening on "
        assert first.startswith(prefix), first
        url = first.removeprefix(prefix).strip()
        rest: list[str] = []
        while len(rest) < 4:
            rest.append(lines.get(timeout=STARTUP_TIMEOUT_S))
        yield url, [first, *rest]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=STARTUP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    assert returncode == 0, process.stderr.read() if process.stderr else ""


def test_console_script_serves_until_sigterm() -> None:
    with running_cli("--seed", "3", "--latency-ms", "1", "--rate-limit", "50", env=clean_env()) as (
        url,
        lines,
    ):
        assert url.startswith("http://127.0.0.1:")
        response = httpx.get(
            f"{url}/2/users/by",
            params={"usernames": "someone,another", "user.fields": "public_metrics"},
            timeout=10,
        )
    assert response.status_code == 200
    assert response.headers["x-rate-limit-limit"] == "50"
    users = response.json().get("data", [])
    assert all(user["_influx_origin"] == "synthetic" for user in users)
    startup = "\n".join(lines)
    assert "latency model: 1 ms per request" in startup
    assert "rate limit: 50 requests per 900 s window" in startup


def test_console_script_requires_the_token_without_printing_it(tmp_path: Path) -> None:
    token = "cli-test-token-0123456789"
    population = tmp_path / "users.jsonl"
    population.write_text('{"id": "1", "username": "Known", "name": "Known"}\nnot json\n')
    process_env = clean_env(X_BEARER_TOKEN=token)
    with running_cli(
        "--require-token", "--population", str(population), "--no-synthetic", env=process_env
    ) as (url, lines):
        anonymous = httpx.get(f"{url}/2/users/by/username/known", timeout=10)
        authorised = httpx.get(
            f"{url}/2/users/by/username/known",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    assert anonymous.status_code == 401
    assert authorised.json()["data"] == {
        "id": "1",
        "name": "Known",
        "username": "Known",
        "_influx_origin": "recorded",
    }
    assert token not in "\n".join(lines)
    assert "1 recorded users" in "\n".join(lines)


def test_console_script_refuses_a_non_loopback_host() -> None:
    done = subprocess.run(
        [console_script(), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=STARTUP_TIMEOUT_S,
    )
    assert done.returncode == 2
    assert "loopback" in done.stderr


def test_console_script_refuses_require_token_without_a_token() -> None:
    done = subprocess.run(
        [console_script(), "--require-token", "--port", "0"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=STARTUP_TIMEOUT_S,
    )
    assert done.returncode == 2
    assert "X_BEARER_TOKEN" in done.stderr


def test_help_explains_every_option() -> None:
    done = subprocess.run(
        [console_script(), "--help"], capture_output=True, text=True, timeout=STARTUP_TIMEOUT_S
    )
    assert done.returncode == 0
    for option in (
        "--host",
        "--port",
        "--population",
        "--no-synthetic",
        "--latency-ms",
        "--per-user-latency-ms",
        "--rate-limit",
        "--window-seconds",
        "--require-token",
        "--seed",
        "--fail-first-n",
    ):
        assert option in done.stdout


def test_lists_prints_the_servers_lists() -> None:
    args = ["lists", "--list-universe", "300", "--list-count", "20", "--seed", "3"]
    done = subprocess.run(
        [console_script(), *args, "--json", "--top", "3"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=STARTUP_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    graph = list_graph(ApiServerConfig(seed=3, list_universe=300, list_count=20))
    biggest = sorted(graph.lists(), key=lambda item: -item.member_count)[:3]
    assert [row["id"] for row in rows] == [item.id for item in biggest]
    assert rows[0]["member_count"] == 300 and {"topic", "kind", "private"} <= set(rows[0])
    table = subprocess.run(
        [console_script(), *args, "--topic", graph.lists()[0].topic],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=STARTUP_TIMEOUT_S,
    )
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["id", "members", "private", "topic", "name"]
    assert graph.lists()[0].id in table.stdout


def test_console_script_enforces_per_endpoint_rate_limits() -> None:
    graph = list_graph(ApiServerConfig(list_universe=300, list_count=20))
    public = next(item for item in graph.lists() if not item.private)
    with running_cli(
        "--documented-rate-limits",
        "--endpoint-rate-limit",
        "/2/lists/:id=1",
        "--list-universe",
        "300",
        "--list-count",
        "20",
        env=clean_env(),
    ) as (url, lines):
        users = httpx.get(f"{url}/2/users/by", params={"usernames": "someone"}, timeout=10)
        first, second = (httpx.get(f"{url}/2/lists/{public.id}", timeout=10) for _ in range(2))
        members = httpx.get(f"{url}/2/lists/{public.id}/members", timeout=10)
    assert users.headers["x-rate-limit-limit"] == "300"
    assert first.status_code == 200 and first.json()["data"]["id"] == public.id
    assert second.status_code == 429 and second.headers["x-rate-limit-limit"] == "1"
    assert members.status_code == 200 and members.headers["x-rate-limit-limit"] == "900"
    assert "rate limit of /2/lists/:id: 1 requests" in "\n".join(lines)


def test_console_script_refuses_an_unknown_endpoint_limit() -> None:
    done = subprocess.run(
        [console_script(), "--endpoint-rate-limit", "/2/tweets=5", "--port", "0"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=STARTUP_TIMEOUT_S,
    )
    assert done.returncode == 2
    assert "/2/lists/:id/members" in done.stderr
