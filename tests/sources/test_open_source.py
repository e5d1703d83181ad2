"""The factory: which source each --source opens, what it refuses, and that every source gives the
same profiles (the payload sweep over the bulk, per-user, prefetched and MCP paths)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from influx_etl.apisim import ORIGIN_FIELD, ApiServerConfig, start_server
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles, Secret
from influx_etl.errors import ConfigError, SourceError
from influx_etl.lookup import profiles, raw_frame
from influx_etl.pipeline import RunReport, run_harvest
from influx_etl.sources import HttpSource, PrefetchedSource, open_source, source_kind
from tests.conftest import REPO_ROOT
from tests.sources.conftest import RECORDED, http_source, outcomes


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


@pytest.mark.parametrize("source", ["prefetched:users.jsonl", "mcp"])
def test_the_per_user_endpoint_is_refused_for_sources_without_endpoints(source: str) -> None:
    with (
        pytest.raises(ConfigError, match="HTTP sources only"),
        open_source(LookupSettings(source=source, endpoint="per-user")),
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


def test_every_public_name_resolves_and_the_sources_import_without_polars() -> None:
    import influx_etl.sources as sources

    for name in sources.__all__:
        assert getattr(sources, name) is not None, name
    probe = (
        "import sys, influx_etl.sources, influx_etl.sources.workers; "
        "print(sorted(m for m in ('polars', 'duckdb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # worker processes import the sources, not the reader
