"""The discovery benchmark runs end to end on a small graph and reports the server's counts."""

from __future__ import annotations

import pytest

from influx_etl.tools import discoverbench


def test_the_benchmark_compares_discovered_and_random_lists(
    capsys: pytest.CaptureFixture[str],
) -> None:
    discoverbench.main(
        [
            "--seeds",
            "150",
            "--max-lists",
            "3",
            "--repeats",
            "1",
            "--universe",
            "2000",
            "--lists",
            "30",
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4  # header, rule, one row per method
    discovered, random_lists = (line.split(" | ") for line in lines[2:])
    assert discovered[1].startswith("discover") and random_lists[1].startswith("random")
    assert discovered[6] == "0"  # a discovered file is answered by stored members: no lookup
    assert random_lists[3] == "0"  # random Lists need no memberships
