"""The packaged defaults, the project folder's overrides, and ``influx init``'s folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from influx_etl import pipeline, project
from influx_etl.config import PipelineConfig, RuleFiles
from influx_etl.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns("__pycache__", "*.egg-info")


@pytest.mark.parametrize("default", project.PACKAGED_DEFAULTS, ids=lambda d: d.what)
def test_packaged_defaults_are_the_repository_files(default: project.DefaultFile) -> None:
    # one source: the package carries lists/ and schema/ as they are in the repository
    packaged = project.packaged_path(default)
    assert packaged.read_bytes() == (REPO / default.project_path).read_bytes()


def test_a_project_file_overrides_the_packaged_default_file_by_file(tmp_path: Path) -> None:
    own = tmp_path / project.BRAND_RULES.project_path
    own.parent.mkdir(parents=True)
    own.write_text("version: mine\n", encoding="utf-8")
    assert project.resolved(project.BRAND_RULES, tmp_path) == own
    assert project.resolved(project.RISK_RULES, tmp_path) == project.packaged_path(
        project.RISK_RULES
    )


def test_init_writes_a_project_folder_and_refuses_to_overwrite(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    result = project.init_project(folder)
    assert (folder / "data").is_dir()
    assert (folder / "README.md").is_file()
    for default in (project.EXAMPLE_SEEDS, project.BRAND_RULES, project.RISK_RULES):
        written = folder / default.project_path
        assert written in result.written
        assert written.read_bytes() == project.packaged_path(default).read_bytes()

    edited = folder / project.BRAND_RULES.project_path
    edited.write_text("version: edited\n", encoding="utf-8")
    (folder / "README.md").unlink()
    with pytest.raises(ConfigError, match="not overwriting") as refused:
        project.init_project(folder)
    assert str(edited) in str(refused.value)
    assert edited.read_text(encoding="utf-8") == "version: edited\n"
    assert not (folder / "README.md").exists()  # refused before writing anything


def test_a_missing_input_file_is_named_with_influx_init(tmp_path: Path) -> None:
    missing = tmp_path / "lists/rules/brand_heuristics.yml"
    config = PipelineConfig(rules=RuleFiles(brand=missing))
    with pytest.raises(ConfigError) as error:
        pipeline.load_rulebook(config)
    assert str(missing) in str(error.value)
    assert "influx init" in str(error.value) and "--brand-rules" in str(error.value)


def test_missing_seed_folder_says_influx_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="influx init"):
        project.checked_seeds_dir(tmp_path / "lists/seeds")


def test_used_files_lines_give_each_path_and_its_sha256(tmp_path: Path) -> None:
    rules = tmp_path / "r.yml"
    rules.write_bytes(b"abc")
    (line,) = project.used_files_lines([("brand rules", rules)])
    # sha256("abc"), a published test vector
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert line.split() == ["using", "brand", "rules", str(rules), "sha256", digest]


def test_pip_install_into_a_fresh_venv_then_init_and_harvest_from_an_empty_folder(
    tmp_path: Path,
) -> None:
    # a copy of the source, so the build writes nothing into the work tree
    source = tmp_path / "source"
    for name in ("influx_etl", "lists", "schema"):
        shutil.copytree(REPO / name, source / name, symlinks=True, ignore=IGNORED)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # the dependencies, pip and setuptools come from this environment: no download
    Path(site, "influx-deps.pth").write_text(
        "\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n", encoding="utf-8"
    )
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--verbose", "--no-deps", "--no-build-isolation",
         "--no-index", str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    # the build's own output (--verbose) holds no license deprecation banner (an SPDX string)
    assert "project.license" not in install.stdout + install.stderr

    folder = tmp_path / "empty"
    folder.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("X_BEARER_TOKEN", "TWITTER_BEARER_TOKEN")
    }

    def influx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "influx"), *args],
            capture_output=True, text=True, cwd=folder, env=env, timeout=300, check=False,
        )  # fmt: skip

    where = subprocess.run(
        [str(python), "-c", "import influx_etl; print(influx_etl.__file__)"],
        capture_output=True, text=True, cwd=folder, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(site), where  # the installed copy, not the work tree
    assert influx("init", ".").returncode == 0
    harvest = influx("harvest")
    assert harvest.returncode == 0, harvest.stderr
    assert (folder / "data/synthetic/influx.duckdb").is_file()
    assert influx("--version").returncode == 0
    assert influx("harvest", "--help").returncode == 0


def test_the_example_seed_list_shows_every_stage_at_work_on_synthetic_data(
    tmp_path: Path,
) -> None:
    from influx_etl.config import LookupSettings, OutputPaths

    config = PipelineConfig(
        seed_paths=(project.packaged_path(project.EXAMPLE_SEEDS),),
        lookup=LookupSettings(source="sim"),
        outputs=OutputPaths(data_dir=tmp_path / "data"),
    )
    report = pipeline.run_harvest(config)
    for stage in ("kept", "below_threshold", "brand", "risk", "not_found", "suspended"):
        assert report.funnel[stage] > 0, (stage, report.funnel)
    assert report.synthetic and report.dataset == config.outputs.synthetic_dataset
    assert not config.outputs.dataset.exists()  # never into the live dataset
