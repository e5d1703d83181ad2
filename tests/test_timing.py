"""Stage timings: logged, and collected inside ``collected``."""

from __future__ import annotations

import logging
import re

import pytest

from influx_etl import timing


def test_a_stage_is_logged_with_its_time_and_the_peak_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="influx_etl.timing"), timing.stage("parse"):
        sum(range(1000))
    (message,) = [record.getMessage() for record in caplog.records]
    found = re.fullmatch(r"stage parse: ([0-9.]+) s \(peak RSS (\d+) MB\)", message)
    assert found is not None and int(found.group(2)) > 0


def test_stages_add_up_inside_collected() -> None:
    with timing.collected() as seconds:
        for _ in range(2):
            with timing.stage("rules"):
                pass
        with timing.stage("export"):
            pass
    assert set(seconds) == {"rules", "export"}
    with timing.stage("outside"):
        pass
    assert "outside" not in seconds


def test_a_failing_stage_is_timed_too() -> None:
    with timing.collected() as seconds, pytest.raises(ValueError), timing.stage("broken"):
        raise ValueError("boom")
    assert "broken" in seconds
