"""Command-line options come from the config dataclasses: one default, range and help each."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

import click
import pytest
from click.testing import CliRunner

from influx_etl.cli import batch, harvest
from influx_etl.cli.options import SECTIONS, GroupedOption
from influx_etl.config import (
    MAX_BATCH_SIZE,
    LookupSettings,
    OutputPaths,
    PipelineConfig,
    PlanSettings,
    Thresholds,
    settings_of,
)

CONFIGS = (LookupSettings, Thresholds, OutputPaths, PlanSettings, PipelineConfig)


def _default(cls: type, name: str) -> Any:
    (each,) = [f for f in fields(cls) if f.name == name]
    return each.default if each.default is not MISSING else each.default_factory()  # type: ignore[misc]


@pytest.mark.parametrize("command", [harvest.bulk_command, harvest.run_command])
def test_every_setting_is_an_option_with_the_configs_flag_default_and_help(
    command: click.Command,
) -> None:
    params = {param.name: param for param in command.params}
    for cls in CONFIGS:
        for name, spec in settings_of(cls).items():
            param = params[name]
            assert isinstance(param, GroupedOption) and param.group == spec.group
            assert param.opts[0] == spec.flag
            assert param.help == spec.help
            assert param.default == _default(cls, name), (cls.__name__, name)


def test_the_options_range_is_the_configs_range() -> None:
    params = {param.name: param for param in harvest.bulk_command.params}
    batch_size = params["batch_size"].type
    assert isinstance(batch_size, click.IntRange)
    assert (batch_size.min, batch_size.max) == (1, MAX_BATCH_SIZE)
    parallel = params["parallel_batches"].type
    assert isinstance(parallel, click.IntRange) and parallel.max == 64


def test_the_automation_keeps_its_own_batch_size_default() -> None:
    params = {param.name: param for param in batch.automation_run.params}
    assert params["batch_size"].default == batch.AUTOMATION_BATCH_SIZE == 100


def test_help_lists_the_options_by_section_in_order() -> None:
    result = CliRunner().invoke(harvest.main, ["bulk", "--help"])
    assert result.exit_code == 0, result.output
    shown = [f"{name} options:" for name in SECTIONS if f"{name} options:" in result.output]
    assert shown[:3] == ["Basics options:", "Lookup options:", "Filters options:"]
    positions = [result.output.index(heading) for heading in shown]
    assert positions == sorted(positions)
    lookup = result.output.split("Lookup options:")[1].split("options:")[0]
    assert "--batch-size" in lookup and "--mcp-url" not in lookup


def test_a_value_out_of_range_is_refused_by_the_command_line_before_anything_runs() -> None:
    result = CliRunner().invoke(harvest.main, ["bulk", "--handles-file", "x", "--batch-size", "0"])
    assert result.exit_code == 2


def test_lookup_only_options_are_hidden_from_list_commands_and_refused_there() -> None:
    from influx_etl.cli.discover import discover_command

    for command, name in ((harvest.main, ["x-lists", "--list", "1"]), (discover_command, [])):
        shown = CliRunner().invoke(command, [*name[:1], "--help"])
        assert shown.exit_code == 0, shown.output
        listed = {line.split()[0] for line in shown.output.splitlines() if line.startswith("  --")}
        assert not listed & {"--batch-size", "--mcp-url", "--backend"}
        assert "--max-requests" in listed  # the plan's options stay
        refused = CliRunner().invoke(command, [*name, "--backend", "loky"])
        assert refused.exit_code == 2
        assert "--backend does nothing for" in refused.output
    # the lookup commands keep them
    assert "--batch-size" in CliRunner().invoke(harvest.main, ["bulk", "--help"]).output


def test_hiding_an_option_a_command_lacks_is_a_mistake_at_import() -> None:
    from influx_etl.cli.options import without_options

    with pytest.raises(ValueError, match="has no option nope"):
        without_options("nope")(click.Command("c", params=[]))
