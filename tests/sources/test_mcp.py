"""``--source mcp`` against a real MCP server on 127.0.0.1 (the official SDK, streamable HTTP).

The server is started in the test process with the same SDK and serves
``RUBE_MULTI_EXECUTE_TOOL`` and ``TWITTER_USER_LOOKUP_BY_USERNAMES`` from the embedded server's
population and synthetic generator, in the response shapes of the reference.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

import uvicorn
from mcp.server.mcpserver import MCPServer

from influx_etl.apisim import ORIGIN_FIELD, ApiServerConfig, UserLookup, start_server
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles, Secret
from influx_etl.errors import AuthError, ConfigError
from influx_etl.lookup import profiles, raw_frame
from influx_etl.pipeline import run_harvest
from influx_etl.sources import HttpSource, open_source, source_kind
from influx_etl.sources.mcp import LOOKUP_TOOL, MULTI_EXECUTE_TOOL, McpSource
from influx_etl.sources.xclient import XClient
from tests.conftest import REPO_ROOT

AUTH = "Bearer rube-key-0123456789abcdef"
RECORDED = {
    "alice": {"id": "101", "username": "Alice", "name": "Alice A",
              "public_metrics": {"followers_count": 90_000}},
    "bob": {"id": "102", "username": "Bob", "name": "Bob B",
            "public_metrics": {"followers_count": 10}},
}  # fmt: skip
HANDLES = ["alice", "BOB", "synth_someone", "another_one", "third_person"]


class RubeLikeServer:
    """An MCP server with Rube's two tools, answering from the embedded server's users."""

    def __init__(
        self,
        *,
        strip_origin: bool = False,
        failures: int = 0,
        config: ApiServerConfig | None = None,
    ) -> None:
        self.lookup = UserLookup(config or ApiServerConfig(population=RECORDED, seed=7))
        self.strip_origin = strip_origin
        self.failures_left = failures
        self.calls: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        mcp = MCPServer("rube-like", log_level="WARNING")

        @mcp.tool(name=MULTI_EXECUTE_TOOL)
        def multi_execute(
            tools: list[dict[str, Any]],
            sync_response_to_workbench: bool = False,
            thought: str = "",
        ) -> str:
            self.calls.append({"tool": MULTI_EXECUTE_TOOL, "tools": tools})
            results = [
                {
                    "tool_slug": call["tool_slug"],
                    "data": self._document(call["arguments"]["usernames"]),
                    "error": None,
                    "successful": True,
                }
                for call in tools
            ]
            # Rube's shape: the API response at data[i].data, its users at data[i].data.data
            return json.dumps({"data": results, "successful": True, "error": None})

        @mcp.tool(name=LOOKUP_TOOL)
        def lookup_users(
            usernames: list[str],
            user_fields: list[str] | None = None,
            expansions: list[str] | None = None,
            tweet_fields: list[str] | None = None,
        ) -> str:
            self.calls.append({"tool": LOOKUP_TOOL, "usernames": usernames})
            # the other shape: the API response under "result", as a JSON string
            return json.dumps({"result": json.dumps(self._document(usernames))})

        self._app = mcp.streamable_http_app(host="127.0.0.1")

    def _document(self, usernames: list[str]) -> dict[str, Any]:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeError("upstream lookup failed (injected)")
        document = self.lookup.document(usernames)
        if self.strip_origin:  # the real route serves plain API objects
            for user in document.get("data", []):
                user.pop(ORIGIN_FIELD, None)
        return document

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"authorization", b"").decode()
            self.auth_headers.append(header)
            if header != AUTH:
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await self._app(scope, receive, send)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def __enter__(self) -> RubeLikeServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", interface="asgi3")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def rube() -> Iterator[RubeLikeServer]:
    with RubeLikeServer() as server:
        yield server


def mcp_source(url: str, tool: str = MULTI_EXECUTE_TOOL, auth: str = AUTH) -> McpSource:
    return McpSource(url, tool=tool, auth=Secret(auth), timeout_s=10)


COLUMNS = ["handle_key", "outcome", "id", "username", "followers_count", "origin"]


def from_http() -> Any:
    with start_server(ApiServerConfig(population=RECORDED, seed=7)) as server:
        client = XClient(server.base_url, None, timeout_s=5)
        batch = HttpSource(client, name="t", kind="simulated").fetch_batch(0, HANDLES)
    return profiles(raw_frame([batch])).select(COLUMNS).sort("handle_key")


@pytest.mark.parametrize("tool", [MULTI_EXECUTE_TOOL, LOOKUP_TOOL])
def test_mcp_answers_like_the_api(rube: RubeLikeServer, tool: str) -> None:
    batch = mcp_source(rube.url, tool).fetch_batch(0, HANDLES)
    assert batch.ok, batch.error
    rows = profiles(raw_frame([batch])).select(COLUMNS).sort("handle_key")
    assert rows.equals(from_http())
    assert rows["outcome"].to_list().count("found") >= 2
    assert rube.calls[-1]["tool"] == tool
    if tool == MULTI_EXECUTE_TOOL:
        (call,) = rube.calls[-1]["tools"]
        assert call["tool_slug"] == LOOKUP_TOOL and call["arguments"]["usernames"] == HANDLES
    stored = json.loads(batch.body or "{}")
    assert "_influx_mcp_result" in stored  # the tool's own answer, verbatim
    assert set(rube.auth_headers) == {AUTH}


def test_a_failing_tool_call_is_retried(tmp_path: Path) -> None:
    with RubeLikeServer(failures=2) as server:
        batch = mcp_source(server.url).fetch_batch(0, ["alice"])
    assert batch.ok and batch.attempts == 3


def test_a_refused_credential_stops_the_run_without_showing_it(rube: RubeLikeServer) -> None:
    with pytest.raises(AuthError) as caught:
        mcp_source(rube.url, auth="Bearer wrong-key-9876543210").fetch_batch(0, ["alice"])
    assert caught.value.status == 401
    assert "wrong-key" not in str(caught.value) and "INFLUX_MCP_AUTH" in str(caught.value)


def test_the_mcp_source_is_live_and_needs_a_url() -> None:
    assert source_kind(LookupSettings(source="mcp")) == "live"
    with pytest.raises(ConfigError, match="--mcp-url"), open_source(LookupSettings(source="mcp")):
        pass
    source = McpSource("http://127.0.0.1:1/mcp", auth=Secret("Bearer secret-value-123"))
    assert "secret-value" not in repr(source)


def test_a_harvest_through_mcp(tmp_path: Path) -> None:
    seed_file = tmp_path / "seeds.txt"
    seed_file.write_text("\n".join(HANDLES) + "\n", encoding="utf-8")
    with RubeLikeServer(strip_origin=True) as server:
        config = PipelineConfig(
            seed_paths=(seed_file,),
            lookup=LookupSettings(
                source="mcp", mcp_url=server.url, mcp_auth=Secret(AUTH), batch_size=2
            ),
            rules=RuleFiles(
                brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
                risk=REPO_ROOT / "lists/rules/risk_terms.yml",
            ),
            outputs=OutputPaths(data_dir=tmp_path / "data"),
        )
        report = run_harvest(config)
    assert not report.synthetic
    assert report.funnel["looked_up"] == len(HANDLES) and report.funnel["failed"] == 0
    assert report.funnel["found"] >= 2
    records = [
        json.loads(line) for line in (report.export_dir / "latest.jsonl").read_text().splitlines()
    ]
    assert "Alice" in {r["handle"] for r in records}
    assert {s["method"] for r in records for s in r["meta"]["sources"]} == {"x-api-v2"}
