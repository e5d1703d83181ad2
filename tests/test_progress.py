"""Progress a person can read: log lines off a terminal, a live bar with a countdown on one."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from influx_etl.apisim import ApiServerConfig, start_server
from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig, RuleFiles
from influx_etl.pipeline import run_harvest
from influx_etl.progress import HarvestProgress, duration
from influx_etl.sources import LookupProgress, RawBatch
from tests.cli.scripts import clean_env, console_script
from tests.conftest import REPO_ROOT


def batch(batch_id: int, found: int, handles: int = 3, error: str | None = None) -> RawBatch:
    users = ",".join(f'{{"id":"{i}","username":"u{i}"}}' for i in range(found))
    body = None if error else '{"data":[' + users + "]}"
    return RawBatch(batch_id, tuple(f"h{i}" for i in range(handles)), "t", 200, body, error)


def test_off_a_terminal_it_writes_periodic_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    progress = HarvestProgress(
        stream=io.StringIO(), log_every_s=10.0, clock=lambda: now[0], wall_clock=lambda: 1e9
    )
    assert not progress.interactive and isinstance(progress, LookupProgress)
    caplog.set_level(logging.INFO, logger="influx_etl.progress")
    with progress:
        progress.lookup_started(4, 12)
        now[0] += 2
        progress(batch(0, found=3), 1, 4)
        now[0] += 2  # too soon for another line
        progress(batch(1, found=2), 2, 4)
        progress.waiting(1e9 + 125, "rate-limit window used up")
        now[0] += 20
        progress(batch(2, found=0, error="HTTP 503"), 3, 4)
        progress(batch(3, found=1), 4, 4)  # the last batch always gets its line
    lines = [r.getMessage() for r in caplog.records if r.name == "influx_etl.progress"]
    assert lines[0] == "lookup: 4 batches (12 handles) to fetch"
    assert lines[1].startswith("lookup: 1/4 batches, 3/12 handles, 3 found")
    assert "ETA 6s" in lines[1]  # 1 batch in 2 s, 3 to go
    assert lines[2].startswith("lookup: rate-limit window used up: waiting 2m05s")
    assert lines[3].startswith("lookup: 3/4 batches, 9/12 handles, 5 found, 1 batches failed")
    assert lines[4].startswith("lookup: 4/4 batches, 12/12 handles, 6 found")
    assert len(lines) == 5


def test_durations_read_like_a_clock() -> None:
    assert [duration(s) for s in (0, 42, 125, 3725)] == ["0s", "42s", "2m05s", "1h02m"]


def test_on_a_terminal_the_bar_counts_a_rate_limit_wait_down(tmp_path: Path) -> None:
    """A real harvest under a pseudo-terminal: the bar shows the batches and the wait."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "s.txt").write_text("\n".join(f"tty_{i:02d}" for i in range(8)) + "\n")
    config = ApiServerConfig(rate_limit=2, window_s=2.0)
    with start_server(config) as server:
        command = [
            console_script("influx-harvest"),
            "run",
            "--seeds-dir",
            str(seeds),
            "--source",
            server.base_url,
            "--batch-size",
            "2",
            "--parallel-batches",
            "1",
            "--data-dir",
            str(tmp_path / "data"),
            "--brand-rules",
            str(REPO_ROOT / "lists/rules/brand_heuristics.yml"),
            "--risk-rules",
            str(REPO_ROOT / "lists/rules/risk_terms.yml"),
        ]
        leader, follower = pty.openpty()
        env = clean_env(COLUMNS="160", LINES="40", TERM="xterm-256color")
        process = subprocess.Popen(
            command, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path
        )
        os.close(follower)
        screen = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk
            elif process.poll() is not None:
                break
        process.wait(timeout=30)
        os.close(leader)
    text = screen.decode("utf-8", "replace")
    assert process.returncode == 0, text[-2000:]
    assert "lookup" in text and "batches" in text and "4/4" in text
    assert "⏸ rate limit 1s" in text  # the countdown reaches its last second
    assert "\x1b[" in text  # drawn in place with terminal control sequences


def test_the_eta_counts_a_rate_limit_wait_still_due() -> None:
    now, wall = [0.0], [1e9]
    progress = HarvestProgress(
        stream=io.StringIO(), interactive=False, clock=lambda: now[0], wall_clock=lambda: wall[0]
    )
    with progress:
        progress.lookup_started(4, 12)
        now[0] += 1
        progress(batch(0, found=3), 1, 4)
        by_rate = progress.eta_s()
        assert by_rate is not None
        progress.waiting(wall[0] + 600, "rate-limit window used up")
        eta = progress.eta_s()
        assert eta is not None and eta >= 600 > by_rate


def test_the_eta_keeps_to_the_rate_limit_windows_the_batches_left_need() -> None:
    now = [0.0]
    # two requests per 60 s window: 5 batches left need two more windows whatever the pace
    progress = HarvestProgress(
        stream=io.StringIO(), interactive=False, rate_limit=(2, 60.0), clock=lambda: now[0]
    )
    with progress:
        progress.lookup_started(6, 18)
        assert progress.eta_s() == 120.0  # before any batch: the plan's windows alone
        now[0] += 1
        progress(batch(0, found=3), 1, 6)
        assert progress.eta_s() == 120.0  # not 5 s at the pace of the first batch
        unlimited = HarvestProgress(stream=io.StringIO(), interactive=False, clock=lambda: now[0])
        with unlimited:
            unlimited.lookup_started(6, 18)
            now[0] += 1
            unlimited(batch(0, found=3), 1, 6)
            assert unlimited.eta_s() == pytest.approx(5.0)


def test_a_prefetched_run_counts_the_handles_and_users_its_file_answered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    users = [
        {"id": str(1000 + i), "username": f"person{i}", "name": f"P {i}", "description": "x",
         "created_at": "2012-01-01T00:00:00.000Z", "verified": False, "verified_type": "none",
         "public_metrics": {"followers_count": 60_000 + i, "following_count": 1,
                            "tweet_count": 1, "listed_count": 1}}
        for i in range(17)
    ]  # fmt: skip
    users_file = tmp_path / "users.jsonl"
    users_file.write_text("".join(json.dumps(u) + "\n" for u in users), encoding="utf-8")
    seeds = tmp_path / "seeds.txt"
    handles = [u["username"] for u in users] + ["absent1", "absent2", "absent3"]
    seeds.write_text("\n".join(handles) + "\n", encoding="utf-8")
    config = PipelineConfig(
        seed_paths=(seeds,),
        lookup=LookupSettings(source=f"prefetched:{users_file}", batch_size=6),
        rules=RuleFiles(
            brand=REPO_ROOT / "lists/rules/brand_heuristics.yml",
            risk=REPO_ROOT / "lists/rules/risk_terms.yml",
        ),
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )
    caplog.set_level(logging.INFO, logger="influx_etl.progress")
    with HarvestProgress(stream=io.StringIO(), interactive=False) as progress:
        report = run_harvest(config, progress=progress)
    assert report.funnel["found"] == 17 and report.funnel["not_found"] == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "influx_etl.progress"]
    assert lines[0] == "lookup: 4 batches (20 handles) to fetch"
    assert lines[-1].startswith("lookup: 4/4 batches, 20/20 handles, 17 found")
    assert (progress.handles_done, progress.found) == (20, 17)
