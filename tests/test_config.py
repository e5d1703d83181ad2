from __future__ import annotations

import pickle
from typing import Any

import pytest

from influx_etl.config import (
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    PlanSettings,
    Secret,
    Thresholds,
    settings_of,
    token_from_environment,
)
from influx_etl.errors import ConfigError


def test_token_is_read_from_either_variable_and_never_shown() -> None:
    token = token_from_environment({"TWITTER_BEARER_TOKEN": "tok-123456"})
    assert token is not None and token.reveal() == "tok-123456"
    assert "tok-123456" not in repr(token) and "tok-123456" not in str(token)
    settings = LookupSettings(token=token)
    assert "tok-123456" not in repr(settings)
    preferred = token_from_environment({"X_BEARER_TOKEN": "x-tok", "TWITTER_BEARER_TOKEN": "t-tok"})
    assert preferred == Secret("x-tok")
    assert token_from_environment({"X_BEARER_TOKEN": "  "}) is None


def test_secret_survives_pickling_for_workers() -> None:
    assert pickle.loads(pickle.dumps(Secret("abcd-1234"))).reveal() == "abcd-1234"


@pytest.mark.parametrize("size", [0, 101])
def test_batch_size_outside_the_api_limit_is_refused(size: int) -> None:
    with pytest.raises(
        ConfigError, match=r"batch_size \(--batch-size\) must be >= 1 and <= 100"
    ) as caught:
        LookupSettings(batch_size=size)
    assert (caught.value.field, caught.value.flag) == ("batch_size", "--batch-size")


def test_negative_thresholds_are_refused() -> None:
    with pytest.raises(ConfigError):
        Thresholds(min_followers=-1)


def test_an_unknown_lookup_endpoint_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="expected one of bulk, per-user"):
        LookupSettings(endpoint="users")


def test_a_chunk_of_no_rows_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"chunk_rows \(--chunk-rows\) must be >= 1"):
        PipelineConfig(chunk_rows=0)
    assert PipelineConfig(chunk_rows=None).chunk_rows is None  # the whole file at once


@pytest.mark.parametrize("size", ["1GB", "500MB", "2GiB", "1.5 GB"])
def test_a_store_memory_size_is_accepted(size: str) -> None:
    assert PipelineConfig(store_memory=size).store_memory == size


@pytest.mark.parametrize("size", ["", "1G", "lots", "1GB; DROP TABLE authors"])
def test_a_store_memory_that_is_no_size_is_refused(size: str) -> None:
    with pytest.raises(ConfigError, match="--store-memory must be a size such as 500MB"):
        PipelineConfig(store_memory=size)


@pytest.mark.parametrize(
    ("make", "flag"),
    [
        (lambda: LookupSettings(parallel_batches=65), "--parallel-batches"),
        (lambda: LookupSettings(timeout_s=0), "--timeout"),
        (lambda: LookupSettings(max_attempts=0), "--max-attempts"),
        (lambda: Thresholds(verified_min_followers=-1), "--verified-min-followers"),
        (lambda: PlanSettings(max_requests=-1), "--max-requests"),
        (lambda: PlanSettings(price_per_user=-0.5), "--price-per-user"),
    ],
)
def test_a_value_outside_its_range_names_the_field_and_its_flag(make: Any, flag: str) -> None:
    with pytest.raises(ConfigError, match=f"\\({flag}\\) must be") as caught:
        make()
    assert caught.value.flag == flag


def test_every_setting_has_a_flag_help_and_a_default_of_its_type() -> None:
    for cls in (LookupSettings, Thresholds, OutputPaths, PlanSettings, PipelineConfig):
        for name, spec in settings_of(cls).items():
            assert spec.flag.startswith("--") and spec.help.endswith("."), (cls, name)
