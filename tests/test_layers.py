"""Every module of the package stands in one layer of the import contract, so none escapes it."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import influx_etl
from tests.conftest import REPO_ROOT


def _layered_modules() -> list[str]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return [name.strip() for layer in contract["layers"] for name in re.split(r"[:|]", layer)]


def test_every_top_level_module_is_in_exactly_one_layer() -> None:
    layered = _layered_modules()
    modules = {f"influx_etl.{m.name}" for m in pkgutil.iter_modules(influx_etl.__path__)}
    assert sorted(set(layered) - modules) == []  # no layer names a module that is gone
    assert sorted(modules - set(layered)) == []  # no module is outside the layers
    assert len(layered) == len(set(layered))


def test_the_layer_contract_holds() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
