"""Fixtures shared by every test module.

``../shared`` (real user objects, real seed lists, the original rule files and schema) sits beside
the repository on developer machines and in CI; tests that need it skip cleanly when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the calling test when it does not exist."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared not available ({path})")
    return path


@pytest.fixture
def shared_real_users() -> Path:
    return shared_path("data", "real_users.jsonl")


@pytest.fixture
def shared_seeds_dir() -> Path:
    return shared_path("data", "seeds")


@pytest.fixture
def shared_compat_dir() -> Path:
    return shared_path("compat", "influx")
