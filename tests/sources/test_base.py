"""Lookup sources against the real embedded server on 127.0.0.1 (no HTTP mocking)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from influx_etl.apisim import (
    ENDPOINT_USER_BY_USERNAME,
    ORIGIN_FIELD,
    ApiServerConfig,
    RunningServer,
    handle_status,
    start_server,
    synthetic_handles,
)
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles, Secret
from influx_etl.errors import AuthError, BadRequestError, ConfigError, SourceError
from influx_etl.lookup import profiles, raw_frame
from influx_etl.pipeline import RunReport, run_harvest
from influx_etl.sources import (
    PROBLEM_INVALID,
    PROBLEM_NOT_FOUND,
    BatchFetcher,
    HttpSource,
    PrefetchedSource,
    RawBatch,
    RetryPolicy,
    error_outcome,
    open_source,
    source_kind,
)
from influx_etl.sources.base import RESPONSES_FIELD
from influx_etl.sources.xclient import ApiResponse, XClient
from tests.conftest import REPO_ROOT

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
        pytest.raises(ConfigError, match=r"auto, x-api, sim \(or embedded\), prefetched:FILE, mcp"),
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


# -- faults, 400 bisection, re-asks -------------------------------------------------------------

SYNTHETIC_HANDLES = [f"handle_{i:03d}" for i in range(40)]


def outcomes(batch: RawBatch) -> dict[str, str]:
    rows = profiles(raw_frame([batch]))
    return dict(zip(rows["handle_key"].to_list(), rows["outcome"].to_list(), strict=True))


def test_a_400_batch_is_split_until_the_refused_handles_are_alone() -> None:
    handles = ["alice", "Bad_One", "bob", "carol", "dave", "erin", "BAD_two", "frank"]
    config = ApiServerConfig(
        population=RECORDED, synthetic=False, invalid_handles=frozenset({"bad_one", "bad_two"})
    )
    with start_server(config) as server:
        batch = http_source(server.base_url).fetch_batch(7, handles)
        refused = server.status_counts[400]
    assert batch.ok, batch.error
    result = outcomes(batch)
    assert len(result) == len(handles)  # every handle ends with exactly one outcome
    assert {h for h, o in result.items() if o == "invalid"} == {"bad_one", "bad_two"}
    assert {h for h, o in result.items() if o == "found"} == {"alice", "bob"}
    assert refused >= 3  # the whole batch, then the halves holding a refused handle
    invalid = profiles(raw_frame([batch])).filter(pl.col("outcome") == "invalid")
    assert invalid["outcome_detail"].str.contains("HTTP 400").all()
    # every response the batch was made of is kept verbatim
    stored = json.loads(batch.body or "{}")
    assert {r["status"] for r in stored["_influx_responses"]} == {200, 400}
    assert sum(len(r["usernames"]) for r in stored["_influx_responses"] if r["status"] == 200) == 6


def test_a_400_on_a_parameter_other_than_usernames_stops_the_run() -> None:
    def request(handles: Sequence[str], batch_id: int) -> ApiResponse:
        raise BadRequestError("HTTP 400", batch_id=batch_id, parameters=("user.fields",))

    fetcher = BatchFetcher(request, RetryPolicy(max_attempts=3))
    with pytest.raises(BadRequestError):
        fetcher.fetch(0, ["alice", "bob"])


def test_malformed_bodies_are_retried_then_recorded_as_failed() -> None:
    config = ApiServerConfig(population=RECORDED, fault_malformed_rate=1.0)
    with start_server(config) as server:
        batch = http_source(server.base_url, attempts=3).fetch_batch(2, ["alice", "bob"])
        assert server.stats().faults["malformed"] == 3
    assert not batch.ok and batch.attempts == 3
    assert batch.error is not None and "malformed response" in batch.error
    rows = profiles(raw_frame([batch]))
    assert rows["outcome"].to_list() == ["failed", "failed"]
    assert rows["outcome_detail"].str.contains("malformed").all()


def test_malformed_bodies_now_and_then_do_not_lose_a_handle() -> None:
    config = ApiServerConfig(population=RECORDED, synthetic=False, fault_malformed_rate=0.5, seed=3)
    with start_server(config) as server:
        source = http_source(server.base_url, attempts=12)
        batches = [source.fetch_batch(i, ["alice", "bob", "nobody"]) for i in range(6)]
        assert server.stats().faults["malformed"] > 0
    for batch in batches:
        assert outcomes(batch) == {"alice": "found", "bob": "found", "nobody": "not_found"}


def test_partial_answers_are_asked_again_for_the_missing_handles() -> None:
    config = ApiServerConfig(population=RECORDED, fault_partial_rate=0.4, seed=5)
    with start_server(config) as server:
        source = http_source(server.base_url, attempts=12)
        batch = source.fetch_batch(0, SYNTHETIC_HANDLES)
        partial = server.stats().faults["partial"]
    assert partial > 0 and batch.ok
    clean = ApiServerConfig(population=RECORDED, seed=5)
    with start_server(clean) as server:
        expected = http_source(server.base_url).fetch_batch(0, SYNTHETIC_HANDLES)
    assert outcomes(batch) == outcomes(expected)
    assert batch.attempts > 1


def test_timeouts_are_retried_then_recorded() -> None:
    config = ApiServerConfig(population=RECORDED, fault_timeout_rate=1.0, fault_hold_s=0.6)
    with start_server(config) as server:
        client = XClient(server.base_url, None, timeout_s=0.2)
        source = HttpSource(client, name="t", kind="simulated", max_attempts=2, backoff_base_s=0)
        batch = source.fetch_batch(0, ["alice"])
    assert batch.error is not None and "timeout" in batch.error and batch.attempts == 2


def test_injected_429s_wait_for_retry_after_and_do_not_count_as_attempts() -> None:
    config = ApiServerConfig(population=RECORDED, fault_429_rate=0.6, fault_retry_after_s=0, seed=1)
    with start_server(config) as server:
        source = http_source(server.base_url, attempts=1)  # one try for 5xx, yet 429s pass
        batches = [source.fetch_batch(i, ["alice"]) for i in range(5)]
        assert server.status_counts[429] > 0
    assert all(b.ok for b in batches)


def test_error_entries_decide_outcomes() -> None:
    assert error_outcome({"title": "Forbidden", "detail": "User has been suspended: [x]."}) == (
        "suspended"
    )
    assert error_outcome({"type": PROBLEM_NOT_FOUND, "title": "Not Found Error"}) == "not_found"
    assert error_outcome({"type": PROBLEM_INVALID}) == "invalid"
    assert error_outcome({"title": "Service Unavailable", "type": "about:blank"}) == "failed"


def test_a_fault_injected_harvest_ends_with_the_same_dataset(tmp_path: Path) -> None:
    """429s, 5xx, timeouts, malformed bodies and partial answers change nothing in the end."""
    seed_file = tmp_path / "seeds.txt"
    seed_file.write_text("\n".join(SYNTHETIC_HANDLES) + "\n", encoding="utf-8")
    faults = {
        "fault_429_rate": 0.1,
        "fault_5xx_rate": 0.2,
        "fault_timeout_rate": 0.1,
        "fault_malformed_rate": 0.1,
        "fault_partial_rate": 0.1,
        "fault_hold_s": 0.8,
        "fault_retry_after_s": 0,
    }
    reports = {}
    for name, knobs in (("clean", {}), ("faulty", faults)):
        with start_server(ApiServerConfig(seed=11, **knobs)) as server:  # type: ignore[arg-type]
            reports[name] = run_harvest(harvest_config(tmp_path / name, seed_file, server.base_url))
            stats = server.stats()
        if name == "faulty":
            assert set(stats.faults) == {"429", "5xx", "timeout", "malformed", "partial"}
    clean, faulty = reports["clean"], reports["faulty"]
    assert faulty.funnel["failed"] == 0
    assert faulty.funnel == clean.funnel
    assert without_fetch_times(exported_records(faulty.export_dir)) == without_fetch_times(
        exported_records(clean.export_dir)
    )
    assert handle_outcomes(faulty) == handle_outcomes(clean)


def harvest_config(data_dir: Path, seed_file: Path, source: str) -> PipelineConfig:
    return PipelineConfig(
        seed_paths=(seed_file,),
        lookup=LookupSettings(
            source=source,
            batch_size=5,
            parallel_batches=3,
            timeout_s=0.4,
            max_attempts=10,
            backoff_base_s=0.01,
            rate_limit_margin_s=0.05,
        ),
        rules=RuleFiles(
            brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
            risk=REPO_ROOT / "lists/rules/risk_terms.yml",
        ),
        outputs=OutputPaths(data_dir=data_dir),
    )


def exported_records(export_dir: Path) -> list[dict[str, Any]]:
    lines = (export_dir / "latest.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def without_fetch_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for record in records:
        record["meta"].pop("last_refresh_at", None)
        for source in record["meta"]["sources"]:
            source.pop("fetched_at", None)
    return records


def handle_outcomes(report: RunReport) -> list[tuple[str, str]]:
    con = duckdb.connect(str(report.dataset), read_only=True)
    try:
        rows = con.execute(
            "SELECT handle_key, outcome FROM handle_outcomes WHERE run_id = ? ORDER BY 1",
            [report.run_id],
        ).fetchall()
    finally:
        con.close()
    return [(str(h), str(o)) for h, o in rows]


# -- the named sources --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sim", "embedded"])
def test_sim_and_its_old_name_start_the_embedded_server(name: str) -> None:
    settings = LookupSettings(source=name)
    assert source_kind(settings) == "simulated"
    with open_source(settings) as source:
        assert source.name == "sim" and source.kind == "simulated"
        assert source.fetch_batch(0, ["someone_new"]).ok


def test_x_api_source_sends_the_token_and_paces(tmp_path: Path) -> None:
    config = ApiServerConfig(
        population=RECORDED, synthetic=False, required_token="tok-abcdef-123456"
    )
    with start_server(config) as server:
        settings = LookupSettings(
            source="x-api", base_url=server.base_url, token=Secret("tok-abcdef-123456")
        )
        assert source_kind(settings) == "live"
        with open_source(settings) as source:
            assert isinstance(source, HttpSource) and source.client.pacing is not None
            assert outcomes(source.fetch_batch(0, ["alice", "nobody"])) == {
                "alice": "found",
                "nobody": "not_found",
            }
            assert "tok-abcdef" not in repr(source)


def test_prefetched_whole_api_responses_and_missing_handles(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    response = {
        "data": [RECORDED["alice"], RECORDED["bob"]],
        "errors": [
            {
                "value": "gone",
                "detail": "User has been suspended: [gone].",
                "title": "Forbidden",
                "resource_type": "user",
                "parameter": "usernames",
                "resource_id": "gone",
                "type": PROBLEM_NOT_FOUND,
            }
        ],
    }
    path.write_text(json.dumps(response) + "\n[1, 2]\n", encoding="utf-8")
    source = PrefetchedSource(path)
    rows = profiles(raw_frame([source.fetch_batch(0, ["Alice", "bob", "gone", "carol"])]))
    result = {r["handle_key"]: (r["outcome"], r["outcome_detail"]) for r in rows.to_dicts()}
    assert result["alice"][0] == result["bob"][0] == "found"
    assert result["gone"][0] == "suspended"
    assert result["carol"] == (
        "not_found",
        "@carol is not in the prefetched users file responses.jsonl.",
    )


# -- the per-user endpoint ----------------------------------------------------------------------


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


@pytest.mark.parametrize("source", ["prefetched:users.jsonl", "mcp"])
def test_the_per_user_endpoint_is_refused_for_sources_without_endpoints(source: str) -> None:
    with (
        pytest.raises(ConfigError, match="HTTP sources only"),
        open_source(LookupSettings(source=source, endpoint="per-user")),
    ):
        pass


# -- the payload sweep: odd real answers, the same outcome on every path ---------------------------

SWEEP_PATHS = ["bulk", "per-user", "prefetched", "mcp"]
LONG_NAME = ("Ada \U0001f469\U0001f3fd\u200d\U0001f4bb \u0645\u0631\u062d\u0628\u0627\u200b " * 9)[
    :50
]
LONG_BIO = ("\u05e9\u05dc\u05d5\u05dd \U0001f680 builds\u200c\u200e things \u2028 " * 12)[:160]
ODD_USERS = {
    "protected_one": {
        "id": "1234567890123456789", "username": "Protected_One", "name": "P",
        "protected": True, "public_metrics": {"followers_count": 80_000},
    },
    "withheld_one": {
        "id": "22", "username": "Withheld_One", "name": "W",
        "withheld": {"country_codes": ["DE", "FR"], "scope": "user"},
        "public_metrics": {"followers_count": 90_000},
    },
    "no_metrics": {"id": "33", "username": "No_Metrics", "name": "N"},
    "few_metrics": {
        "id": "44", "username": "Few_Metrics", "name": "F",
        "public_metrics": {"followers_count": 70_000},
    },
    "legacy_verified": {
        "id": "55", "username": "Legacy_Verified", "name": "L", "verified": True,
        "public_metrics": {"followers_count": 40_000, "following_count": 10},
    },
    "long_names": {
        "id": "9223372036854775807", "username": "Long_Names", "name": LONG_NAME,
        "description": LONG_BIO, "public_metrics": {"followers_count": 100_000},
    },
}  # fmt: skip


def _swept_run(
    path: str,
    tmp_path: Path,
    population: dict[str, dict[str, Any]],
    seed_files: Sequence[Path],
    quirks: frozenset[str] = frozenset(),
    batch_size: int = 75,
) -> tuple[RunReport, int | None]:
    """A harvest of ``seed_files`` over ``path``, every path answered from the same embedded
    server's answers (with ``quirks``); and how many usernames were asked (None: a file)."""
    server_config = ApiServerConfig(population=population, synthetic=False, quirks=quirks)
    settings = LookupSettings(batch_size=batch_size, backoff_base_s=0.01, max_attempts=2)
    if path in ("bulk", "per-user"):
        with start_server(server_config) as server:
            settings = replace(settings, source=server.base_url, endpoint=path)
            report = run_harvest(_sweep_config(tmp_path, seed_files, settings))
            return report, server.stats().usernames
    if path == "prefetched":
        # the server's own answer to one request for every handle, saved as a response line
        from influx_etl.apisim import UserLookup
        from influx_etl.seeds import load_seeds

        handles = load_seeds(seed_files).frame["handle"].to_list()
        users_file = tmp_path / "users.jsonl"
        document = UserLookup(server_config).document(handles)
        for user in document.get("data", []):  # plain API objects, as the real route saves them
            user.pop(ORIGIN_FIELD, None)
        users_file.write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
        settings = replace(settings, source=f"prefetched:{users_file}")
        return run_harvest(_sweep_config(tmp_path, seed_files, settings)), None
    pytest.importorskip("mcp")
    from tests.sources.test_mcp import AUTH, RubeLikeServer

    with RubeLikeServer(config=server_config, strip_origin=True) as rube:
        settings = replace(settings, source="mcp", mcp_url=rube.url, mcp_auth=Secret(AUTH))
        report = run_harvest(_sweep_config(tmp_path, seed_files, settings))
    asked = sum(
        len(call["arguments"]["usernames"]) for entry in rube.calls for call in entry["tools"]
    )
    return report, asked


def _sweep_config(tmp_path: Path, seed_files: Sequence[Path], lookup: LookupSettings) -> Any:
    return PipelineConfig(
        seed_paths=tuple(seed_files),
        lookup=lookup,
        rules=RuleFiles(
            brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
            risk=REPO_ROOT / "lists/rules/risk_terms.yml",
        ),
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )


def _run_table(report: RunReport, table: str) -> dict[str, dict[str, Any]]:
    con = duckdb.connect(str(report.dataset), read_only=True)
    try:
        where = "WHERE run_id = ?" if table == "handle_outcomes" else "WHERE ? IS NOT NULL"
        frame = con.sql(f"SELECT * FROM {table} {where}", params=[report.run_id]).pl()
    finally:
        con.close()
    return {row["handle_key"]: row for row in frame.to_dicts()}


@pytest.mark.parametrize("path", SWEEP_PATHS)
def test_odd_user_objects_come_out_the_same_on_every_path(tmp_path: Path, path: str) -> None:
    first = tmp_path / "a.txt"
    first.write_text("@Protected_One\n" + "\n".join(list(ODD_USERS)[1:]) + "\n", encoding="utf-8")
    second = tmp_path / "b.csv"
    second.write_text("handle,category\nprotected_one,test\n", encoding="utf-8")

    report, asked = _swept_run(path, tmp_path, ODD_USERS, [first, second])

    assert report.funnel["seed_rows"] == len(ODD_USERS) + 1
    assert report.funnel["looked_up"] == report.funnel["found"] == len(ODD_USERS)
    assert asked in (None, len(ODD_USERS))  # "@Protected_One" and "protected_one": asked once
    outcomes = _run_table(report, "handle_outcomes")
    assert {key: row["id"] for key, row in outcomes.items()} == {
        key: user["id"] for key, user in ODD_USERS.items()
    }
    assert outcomes["no_metrics"]["followers_count"] is None
    assert outcomes["no_metrics"]["passes_threshold"] is False
    legacy = outcomes["legacy_verified"]
    assert legacy["is_verified"] and legacy["passes_threshold"]  # 40k: the verified threshold
    authors = _run_table(report, "authors")
    long_names = authors["long_names"]
    assert (long_names["name"], long_names["description"]) == (LONG_NAME, LONG_BIO)
    assert authors["protected_one"]["seed_files"] == ["a.txt", "b.csv"]
    assert authors["few_metrics"]["like_count"] is None
    assert authors["legacy_verified"]["verified"] == "legacy"
    exported = {
        record["id"]: record
        for record in map(
            json.loads, (report.export_dir / "latest.jsonl").read_text().split("\n")[:-1]
        )
    }
    assert exported["9223372036854775807"]["name"] == LONG_NAME
    assert "1234567890123456789" in exported


# what each quirk makes of a found handle and of one nobody has, on the API paths
QUIRK_OUTCOMES = {
    "error-without-value": ("found", "not_found"),
    "unknown-error-title": ("found", "failed"),
    "error-for-unasked-handle": ("found", "not_found"),
    "empty-data": ("found", "not_found"),
    "empty-answer": ("failed", "failed"),
    "absent-pinned-post": ("found", "not_found"),
    "unrequested-user": ("found", "not_found"),
}


@pytest.mark.parametrize("quirk", list(QUIRK_OUTCOMES))
@pytest.mark.parametrize("path", SWEEP_PATHS)
def test_odd_answers_come_out_the_same_on_every_path(
    tmp_path: Path, path: str, quirk: str, caplog: pytest.LogCaptureFixture
) -> None:
    population = {
        "pinned_one": {
            "id": "1700000000000000001", "username": "Pinned_One", "name": "Pin",
            "pinned_tweet_id": "1800000000000000001",
            "public_metrics": {"followers_count": 75_000},
        },
    }  # fmt: skip
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("pinned_one\nghost_one\n", encoding="utf-8")

    with caplog.at_level("WARNING", logger="influx_etl.pipeline"):
        report, _ = _swept_run(path, tmp_path, population, [seeds], frozenset({quirk}), 1)

    outcomes = _run_table(report, "handle_outcomes")
    expected = QUIRK_OUTCOMES[quirk]
    if path == "prefetched" and quirk == "empty-answer":
        expected = ("not_found", "not_found")  # a file that holds nobody: not in the file
    assert (outcomes["pinned_one"]["outcome"], outcomes["ghost_one"]["outcome"]) == expected
    assert set(outcomes) == {"pinned_one", "ghost_one"}  # never a row for an unasked handle
    if expected[0] == "found":
        assert outcomes["pinned_one"]["id"] == "1700000000000000001"
    # the stray user of every bulk answer (one a batch) is ignored, counted and logged once
    strays = 2 if quirk == "unrequested-user" and path in ("bulk", "mcp") else 0
    assert report.funnel["unrequested_users"] == strays
    logged = [r for r in caplog.records if "matched no requested handle" in r.getMessage()]
    assert len(logged) == (1 if strays else 0)
    if strays:
        assert "@StrayUser" in logged[0].getMessage()


def test_a_handle_twice_in_one_batch_in_two_cases_is_asked_once(server: RunningServer) -> None:
    batch = http_source(server.base_url).fetch_batch(0, ["Alice", "bob", "alice", "nobody"])
    assert (server.stats().requests, server.stats().usernames) == (1, 3)  # alice once
    assert batch.handles == ("Alice", "bob", "alice", "nobody")
    rows = profiles(raw_frame([batch])).sort("handle_key")
    assert rows.select("handle_key", "outcome").rows() == [
        ("alice", "found"),
        ("bob", "found"),
        ("nobody", "not_found"),
    ]
