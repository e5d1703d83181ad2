"""The package's public API is exactly what ``__all__`` says, and every name in it resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import influx_etl


def test_every_public_name_resolves_to_the_object_of_its_module() -> None:
    from influx_etl import config, errors, pipeline

    assert influx_etl.run_harvest is pipeline.run_harvest
    assert influx_etl.PipelineConfig is config.PipelineConfig
    assert issubclass(influx_etl.InfluxError, Exception)
    assert influx_etl.InfluxError is errors.InfluxError
    for name in influx_etl.__all__:
        assert getattr(influx_etl, name) is not None, name


def test_all_lists_the_documented_entry_points() -> None:
    assert set(influx_etl.__all__) == set(influx_etl._PUBLIC)
    assert {"run_harvest", "run_automation", "PipelineConfig", "InfluxError"} <= set(
        influx_etl.__all__
    )
    assert set(influx_etl.__all__) <= set(dir(influx_etl))


def test_a_name_outside_the_api_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_public'"):
        _ = influx_etl.not_public  # type: ignore[attr-defined]


def test_importing_the_package_imports_no_stage() -> None:
    probe = (
        "import influx_etl, sys; "
        "print(sorted(m for m in sys.modules if m.startswith('influx_etl.')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
