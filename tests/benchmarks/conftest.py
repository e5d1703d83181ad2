"""Benchmark fixtures: synthetic profiles in the PROFILES frame, as many as ``--bench-profiles``.

``make test`` runs the benchmarks once each on the default (small) count, as a smoke test;
``make bench`` runs them at 1,000,000 profiles with timing on.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from influx_etl.apisim.generate import GeneratedFiles, write_profiles
from influx_etl.lookup import profiles, raw_frame
from influx_etl.sources import PrefetchedSource

DEFAULT_PROFILES = 2_000
DEFAULT_HANDLES = 100
"""Handles in the lookup benchmarks under ``make test`` (``make bench`` passes more)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-profiles",
        type=int,
        default=DEFAULT_PROFILES,
        help=f"profiles in the rules benchmarks (default {DEFAULT_PROFILES:,})",
    )
    parser.addoption(
        "--bench-handles",
        type=int,
        default=DEFAULT_HANDLES,
        help=f"handles each lookup benchmark looks up (default {DEFAULT_HANDLES:,})",
    )


@pytest.fixture(scope="session")
def bench_profile_count(request: pytest.FixtureRequest) -> int:
    count = request.config.getoption("--bench-profiles", default=DEFAULT_PROFILES)
    assert isinstance(count, int) and count > 0
    return count


@pytest.fixture(scope="session")
def bench_handle_count(request: pytest.FixtureRequest) -> int:
    count = request.config.getoption("--bench-handles", default=DEFAULT_HANDLES)
    assert isinstance(count, int) and count > 0
    return count


@pytest.fixture(scope="session")
def bench_files(
    bench_profile_count: int, tmp_path_factory: pytest.TempPathFactory
) -> GeneratedFiles:
    """The generator's users file of ``bench_profile_count`` profiles and its handles file."""
    folder = tmp_path_factory.mktemp("bench-profiles")
    return write_profiles(bench_profile_count, folder / "profiles.jsonl", folder / "handles.txt")


@pytest.fixture(scope="session")
def bench_profiles(bench_files: GeneratedFiles) -> pl.DataFrame:
    """``bench_profile_count`` found profiles (``PROFILES_SCHEMA``), all distinct: the generator's
    users file read by the lookup stage, as a prefetched run reads it."""
    assert bench_files.handles_path is not None
    handles = Path(bench_files.handles_path).read_text(encoding="utf-8").split()
    batches = PrefetchedSource(bench_files.profiles_path).fetch_batches([(0, handles)])
    return profiles(raw_frame(batches)).filter(pl.col("outcome") == "found").rechunk()
