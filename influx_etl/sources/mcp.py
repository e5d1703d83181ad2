"""``--source mcp``: the Rube MCP route of the original workflow, as a lookup source.

An MCP client (the official ``mcp`` SDK, streamable HTTP transport) calls
``RUBE_MULTI_EXECUTE_TOOL`` with one ``TWITTER_USER_LOOKUP_BY_USERNAMES`` call per batch (or that
tool directly, ``mcp_tool``). The tool's result wraps the API response somewhere inside it (the
user list at ``data[i].data.data``, or under ``result``, sometimes as a JSON string); every
API document found in it is merged into one ``{"data", "errors", "includes"}`` document, so the
pipeline sees the same :class:`~influx_etl.sources.RawBatch` as from the API. The tool result
itself is kept verbatim in the stored document under ``_influx_mcp_result``.

Retries, re-asks and failures work as for the HTTP sources (:class:`~influx_etl.sources.
BatchFetcher`); the MCP server states no rate-limit budget, so there is no pacing. A 401/403 from
the MCP server stops the run. Each batch opens its own MCP session (one initialise round trip
per up to 100 users), so workers share nothing but the settings.

Needs the optional extra: ``pip install 'influx_etl[mcp]'``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from influx_etl.config import LookupSettings, Secret
from influx_etl.errors import AuthError, ConfigError, TransportError, mask_secrets
from influx_etl.sources.base import DatasetKind, RawBatch
from influx_etl.sources.fetch import BatchFetcher, RetryPolicy
from influx_etl.sources.xclient import TWEET_FIELDS, USER_FIELDS, ApiResponse, utc_now_iso

try:
    import anyio
    import httpx2
    from mcp import Client, MCPError
    from mcp.client.streamable_http import streamable_http_client
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigError(
        "--source mcp needs the MCP SDK: install the extra with pip install 'influx_etl[mcp]' "
        f"({exc})"
    ) from None

log = logging.getLogger(__name__)

_TRANSPORT_FAULTS: tuple[type[BaseException], ...] = (
    OSError,
    httpx2.HTTPError,
    MCPError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)
"""What the MCP SDK raises when the call, not our code, failed: only these become a
:class:`TransportError` (retried); anything else is a bug and propagates as it is."""
_CAUGHT: tuple[type[BaseException], ...] = (BaseExceptionGroup, *_TRANSPORT_FAULTS)

MULTI_EXECUTE_TOOL = "RUBE_MULTI_EXECUTE_TOOL"
LOOKUP_TOOL = "TWITTER_USER_LOOKUP_BY_USERNAMES"
MCP_TOOLS = (MULTI_EXECUTE_TOOL, LOOKUP_TOOL)
RESULT_FIELD = "_influx_mcp_result"
_MAX_DEPTH = 8


def lookup_arguments(handles: Sequence[str]) -> dict[str, Any]:
    """``TWITTER_USER_LOOKUP_BY_USERNAMES`` arguments for one batch."""
    return {
        "usernames": list(handles),
        "user_fields": list(USER_FIELDS),
        "expansions": ["pinned_tweet_id"],
        "tweet_fields": list(TWEET_FIELDS),
    }


def tool_arguments(tool: str, handles: Sequence[str]) -> dict[str, Any]:
    """The arguments of ``tool`` (multi-execute wrapping the lookup, or the lookup itself)."""
    if tool == LOOKUP_TOOL:
        return lookup_arguments(handles)
    return {
        "tools": [{"tool_slug": LOOKUP_TOOL, "arguments": lookup_arguments(handles)}],
        "sync_response_to_workbench": False,
        "thought": f"influx_etl: bulk user lookup of {len(handles)} handles",
    }


def _looks_like_api_document(value: dict[str, Any]) -> bool:
    data = value.get("data")
    users = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    if users and all(isinstance(u, dict) and "username" in u and "id" in u for u in users):
        return True
    errors = value.get("errors")
    return (
        isinstance(errors, list)
        and bool(errors)
        and all(isinstance(e, dict) and ("value" in e or "resource_id" in e) for e in errors)
    )


def api_documents(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every user-lookup API document inside a tool result, however deeply it is wrapped."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            value = json.loads(value)
        except ValueError:
            return
    if isinstance(value, dict):
        if _looks_like_api_document(value):
            yield value
            return
        for item in value.values():
            yield from api_documents(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from api_documents(item, depth + 1)


def merged_document(result_text: str) -> dict[str, Any]:
    """One API document from a tool result's JSON text; raises TransportError if it holds none."""
    users: list[Any] = []
    errors: list[Any] = []
    tweets: list[Any] = []
    found = False
    for document in api_documents(result_text):
        found = True
        data = document.get("data")
        users.extend(data if isinstance(data, list) else [data] if data else [])
        errors.extend(document.get("errors") or [])
        includes = document.get("includes")
        tweets.extend((includes.get("tweets") or []) if isinstance(includes, dict) else [])
    if not found:
        raise TransportError(
            "the MCP tool's result holds no user lookup response (expected data[i].data.data "
            f"or result): {mask_secrets(result_text[:300])}"
        )
    merged: dict[str, Any] = {}
    if users:
        merged["data"] = users
    if tweets:
        merged["includes"] = {"tweets": tweets}
    if errors:
        merged["errors"] = errors
    merged[RESULT_FIELD] = result_text
    return merged


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _leaf_messages(exc: BaseException) -> list[str]:
    return [
        f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
        for leaf in _leaves(exc)
    ]


class McpSource:
    """Users looked up through an MCP server's ``TWITTER_USER_LOOKUP_BY_USERNAMES``."""

    kind: DatasetKind = "live"

    def __init__(
        self,
        url: str,
        *,
        tool: str = MULTI_EXECUTE_TOOL,
        auth_header: str = "Authorization",
        auth: Secret | None = None,
        timeout_s: float = 60.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        if tool not in MCP_TOOLS:
            raise ConfigError(f"unknown MCP tool {tool!r}: expected one of {', '.join(MCP_TOOLS)}")
        self.url = url
        self.tool = tool
        self.name = f"mcp:{url}"
        self.auth_header = auth_header
        self._auth = auth
        self.timeout_s = timeout_s
        self._fetcher = BatchFetcher(self._request, policy or RetryPolicy())

    @classmethod
    def from_settings(cls, settings: LookupSettings) -> McpSource:
        if not settings.mcp_url:
            raise ConfigError(
                "--source mcp needs --mcp-url (the MCP server's streamable HTTP endpoint)"
            )
        return cls(
            settings.mcp_url,
            tool=settings.mcp_tool,
            auth_header=settings.mcp_auth_header,
            auth=settings.mcp_auth,
            timeout_s=settings.timeout_s,
            policy=RetryPolicy.from_settings(settings),
        )

    def __repr__(self) -> str:
        auth = "set" if self._auth is not None else "none"
        return f"McpSource(url={self.url!r}, tool={self.tool!r}, auth={auth})"

    def fetch_batch(self, batch_id: int, handles: Sequence[str]) -> RawBatch:
        return self._fetcher.fetch(batch_id, handles)

    def _request(self, handles: Sequence[str], batch_id: int) -> ApiResponse:
        requested_at = utc_now_iso()
        started = time.perf_counter()
        refused: list[int] = []
        try:
            text = asyncio.run(self._call(handles, refused))
        except TransportError:
            raise
        except _CAUGHT as exc:
            if not all(isinstance(leaf, _TRANSPORT_FAULTS) for leaf in _leaves(exc)):
                raise
            if refused:
                raise AuthError(
                    f"HTTP {refused[0]} from the MCP server {self.url}: check the value of "
                    f"{self.auth_header} (INFLUX_MCP_AUTH or --mcp-auth-file) and "
                    "--mcp-auth-header; retrying will not help.",
                    status=refused[0],
                    batch_id=batch_id,
                ) from None
            reason = "; ".join(_leaf_messages(exc))
            raise TransportError(
                f"MCP call to {self.url} failed: {mask_secrets(reason)}", batch_id=batch_id
            ) from None
        document = merged_document(text)
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        return ApiResponse(200, body, requested_at, time.perf_counter() - started, {})

    async def _call(self, handles: Sequence[str], refused: list[int]) -> str:
        async def note_refusal(response: httpx2.Response) -> None:
            if response.status_code in (401, 403):
                refused.append(response.status_code)

        headers = {"User-Agent": "influx-etl/0.1"}
        if self._auth is not None:
            headers[self.auth_header] = self._auth.reveal()
        with anyio.fail_after(self.timeout_s):
            async with (
                httpx2.AsyncClient(
                    headers=headers,
                    timeout=self.timeout_s,
                    event_hooks={"response": [note_refusal]},
                ) as http,
                Client(streamable_http_client(self.url, http_client=http)) as client,
            ):
                result = await client.call_tool(self.tool, tool_arguments(self.tool, handles))
        texts = [str(getattr(block, "text", "")) for block in result.content]
        if result.is_error:
            raise TransportError(
                f"the MCP tool {self.tool} reported an error: {mask_secrets(' '.join(texts))[:300]}"
            )
        if result.structured_content is not None:
            return json.dumps(result.structured_content, ensure_ascii=False)
        return texts[0] if len(texts) == 1 else json.dumps(texts, ensure_ascii=False)
