"""Running the package's console scripts as real subprocesses."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

TOKEN_VARIABLES = ("X_BEARER_TOKEN", "TWITTER_BEARER_TOKEN")


def console_script(name: str) -> str:
    """Path of an installed console script (beside this interpreter, else on PATH)."""
    beside_python = Path(sys.executable).with_name(name)
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"the {name} console script is not installed (pip install -e .)")
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any bearer token, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in TOKEN_VARIABLES}
    return {**env, **extra}
