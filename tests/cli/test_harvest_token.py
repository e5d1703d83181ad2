"""The bearer token never shows: not in logs, errors, the DuckDB file, exports or any repr.

A token-shaped secret goes through failing runs (a server that wants another token, and one
that answers 503 to everything), as a real subprocess and in process.
"""

from __future__ import annotations

import logging
import pickle
import subprocess
from pathlib import Path

import pytest

from influx_etl.apisim import ApiServerConfig, RunningServer, start_server
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles, Secret
from influx_etl.errors import AuthError
from influx_etl.exit_codes import ExitCode
from influx_etl.pipeline import run_harvest
from influx_etl.sources import HttpSource
from influx_etl.sources.pacing import Pacing
from influx_etl.sources.xclient import XClient
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT

# shaped like an app-only bearer token (URL-encoded base64 pieces)
TOKEN = "AAAAAAAAAAAAAAAAAAAAAJq7xQEAAAAAz%2BLeakTestTokenQx9%3DpT4mZr8KdW2vYs6NcFh0bGuLe1"
OTHER = "AAAAAAAAAAAAAAAAAAAAAOtherTokenTheServerWants%2F0123456789abcdefghij"
RULES = ("--brand-rules", str(REPO_ROOT / "lists/rules/brand_heuristics.yml"))
RISK = ("--risk-rules", str(REPO_ROOT / "lists/rules/risk_terms.yml"))


def seeds_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s.txt").write_text("alpha_one\nbeta_two\ngamma_three\n", encoding="utf-8")
    return folder


def harvest(
    tmp_path: Path, server: RunningServer, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [
        console_script("influx-harvest"),
        "run",
        "--seeds-dir",
        str(seeds_dir(tmp_path)),
        "--source",
        "x-api",
        "--base-url",
        server.base_url,
        "--batch-size",
        "2",
        "--max-attempts",
        "2",
        "--data-dir",
        str(tmp_path / "data"),
        *RULES,
        *RISK,
        "-vv",
        *extra,
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(X_BEARER_TOKEN=TOKEN),
        cwd=tmp_path,
        timeout=120,
    )


def assert_nowhere(token: str, *texts: str, folder: Path | None = None) -> None:
    for text in texts:
        assert token not in text
    if folder is not None:
        files = [p for p in folder.rglob("*") if p.is_file()]
        for path in files:
            assert token.encode() not in path.read_bytes(), f"the token is in {path}"


def test_a_refused_token_stops_the_run_and_is_never_shown(tmp_path: Path) -> None:
    with start_server(ApiServerConfig(required_token=OTHER)) as server:
        result = harvest(tmp_path, server)
        assert server.status_counts[401] == 1  # stopped at once, no retry
    assert result.returncode == 1
    assert "401" in result.stderr and "X_BEARER_TOKEN" in result.stderr
    assert_nowhere(TOKEN, result.stdout, result.stderr, folder=tmp_path / "data")
    assert (tmp_path / "data" / "influx.duckdb").exists()  # the failed run is recorded


def test_a_run_of_server_errors_never_shows_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "secrets" / "x-token"
    token_file.parent.mkdir()
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    config = ApiServerConfig(required_token=TOKEN, fault_5xx_rate=1.0)
    with start_server(config) as server:
        result = harvest(tmp_path, server, "--token-file", str(token_file), env=clean_env())
        assert server.stats().faults["5xx"] == 4  # 2 batches x 2 attempts
    # every lookup failed: nothing was looked up, and cron sees it
    assert result.returncode == ExitCode.NOTHING_LOOKED_UP, result.stderr
    assert "failed (retry with a later run)" in result.stdout
    exported = tmp_path / "data" / "latest" / "latest.jsonl"
    assert exported.exists()
    assert_nowhere(TOKEN, result.stdout, result.stderr, folder=tmp_path / "data")


def test_a_token_file_inside_a_repository_is_refused(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    token_file = checkout / "token.txt"
    token_file.write_text(TOKEN, encoding="utf-8")
    with start_server(ApiServerConfig()) as server:
        result = subprocess.run(
            [
                console_script("influx-harvest"),
                "run",
                "--seeds-dir",
                str(seeds_dir(tmp_path)),
                "--source",
                "x-api",
                "--base-url",
                server.base_url,
                "--token-file",
                str(token_file),
            ],
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=checkout,
            timeout=120,
        )
        assert server.requests_served == 0
    assert result.returncode == 1
    assert "inside the repository" in result.stderr
    assert_nowhere(TOKEN, result.stdout, result.stderr)


def config(tmp_path: Path, server: RunningServer) -> PipelineConfig:
    return PipelineConfig(
        seed_paths=(seeds_dir(tmp_path) / "s.txt",),
        lookup=LookupSettings(
            source="x-api",
            base_url=server.base_url,
            token=Secret(TOKEN),
            batch_size=2,
            max_attempts=2,
            backoff_base_s=0.01,
        ),
        rules=RuleFiles(brand=Path(RULES[1]), risk=Path(RISK[1])),
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )


def test_in_process_logs_errors_and_reprs_never_show_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with start_server(ApiServerConfig(required_token=OTHER)) as server:
        settings = config(tmp_path, server)
        with pytest.raises(AuthError) as refused:
            run_harvest(settings)
    error = refused.value
    texts = [str(error), repr(error), repr(error.args), str(pickle.loads(pickle.dumps(error)))]
    with start_server(ApiServerConfig(required_token=TOKEN, fault_5xx_rate=1.0)) as server:
        report = run_harvest(config(tmp_path / "second", server))
        client = XClient(server.base_url, Secret(TOKEN), pacing=Pacing())
        source = HttpSource(client, name="x-api", kind="live")
        texts += [repr(settings), repr(settings.lookup), repr(client), repr(source)]
        texts += [repr(client.pacing), repr(report)]
        client.close()
    assert report.funnel["failed"] == 3
    assert_nowhere(TOKEN, caplog.text, *texts, folder=tmp_path)
