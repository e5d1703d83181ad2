"""The files a run reads by default, and the project folder ``influx init`` writes.

The package carries a default of each input under ``influx_etl/data/`` (read through
:mod:`importlib.resources`): the brand and risk rules, the scoring weights, the schema and a
small example seed list. A project folder overrides them file by file: a
``lists/rules/brand_heuristics.yml`` in the folder a command runs from is read instead of the
packaged one, and so on. In the repository the packaged copies are links to ``lists/`` and
``schema/``, so each default has one source.
"""

from __future__ import annotations

import atexit
import hashlib
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from influx_etl.errors import ConfigError

INIT_HINT: Final = "run `influx init` to write a project folder with the defaults"


@dataclass(frozen=True)
class DefaultFile:
    """One input with a packaged default and the place a project folder overrides it."""

    what: str
    """What the file is, for messages (``brand rules``)."""
    project_path: Path
    """Relative to the project folder (the working directory)."""
    packaged: str
    """Relative to ``influx_etl/data/``."""
    flag: str
    """The option that names another file."""


BRAND_RULES: Final = DefaultFile(
    "brand rules", Path("lists/rules/brand_heuristics.yml"), "rules/brand_heuristics.yml",
    "--brand-rules",
)  # fmt: skip
RISK_RULES: Final = DefaultFile(
    "risk rules", Path("lists/rules/risk_terms.yml"), "rules/risk_terms.yml", "--risk-rules"
)
SCORING: Final = DefaultFile("scoring", Path("lists/scoring.yml"), "scoring.yml", "--scoring")
FRESHNESS: Final = DefaultFile(
    "freshness", Path("lists/freshness.yml"), "freshness.yml", "--freshness"
)
SCHEMA: Final = DefaultFile(
    "schema", Path("schema/bigv.schema.json"), "bigv.schema.json", "--schema"
)
EXAMPLE_SEEDS: Final = DefaultFile(
    "example seed list", Path("lists/seeds/example.csv"), "seeds/example.csv", "--handles-file"
)
PACKAGED_DEFAULTS: Final = (BRAND_RULES, RISK_RULES, SCORING, FRESHNESS, SCHEMA, EXAMPLE_SEEDS)

SEEDS_DIR: Final = Path("lists/seeds")
DATA_DIR: Final = Path("data")

_extracted = ExitStack()
atexit.register(_extracted.close)


def packaged_path(default: DefaultFile) -> Path:
    """The packaged copy of ``default`` as a file on disk (extracted if the package is zipped)."""
    resource = resources.files("influx_etl").joinpath("data", *default.packaged.split("/"))
    if isinstance(resource, Path):
        return resource
    return _extracted.enter_context(resources.as_file(resource))


def resolved(default: DefaultFile, project: Path | None = None) -> Path:
    """The project's copy of ``default`` when the folder has one, else the packaged one."""
    own = (project or Path()) / default.project_path
    return own if own.is_file() else packaged_path(default)


def default_help(default: DefaultFile) -> str:
    """What ``--help`` shows as the default: the one it really uses, whichever exists."""
    return f"{default.project_path} if present, else the packaged default"


def scoring_or_default(_context: object, _parameter: object, value: Path | None) -> Path:
    """``--scoring``'s value, else the project's scoring file, else the packaged one."""
    return value or resolved(SCORING)


def missing_file_error(path: Path, what: str, flag: str) -> ConfigError:
    return ConfigError(f"{path}: no such {what} file; {INIT_HINT}, or pass {flag} FILE")


def checked_file(path: Path, what: str, flag: str) -> Path:
    """``path`` if it is a file, else the error that names it and says how to get one."""
    if not path.is_file():
        raise missing_file_error(path, what, flag)
    return path


def checked_seeds_dir(path: Path) -> Path:
    """``path`` if it is a folder, else the error that names it and says how to get one."""
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise ConfigError(
            f"{path}: the seed folder {what}; {INIT_HINT} (its lists/seeds/ holds an example "
            "seed list), or pass --seeds-dir FOLDER"
        )
    return path


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def used_files_lines(files: Iterable[tuple[str, Path]]) -> list[str]:
    """``using brand rules  PATH  sha256 HEX`` for each input, as the run records them."""
    pairs = list(files)
    width = max((len(what) for what, _ in pairs), default=0)
    return [f"using {what:<{width}}  {path}  sha256 {file_sha256(path)}" for what, path in pairs]


PROJECT_README: Final = """\
# influx project

Written by `influx init`. Every `influx` command run from this folder reads its inputs here:

- `lists/seeds/`: the seed lists (`*.csv` with a `handle` column, or `*.txt`, one handle a
  line). `example.csv` is a small example; replace it with your own lists.
- `lists/rules/`: the brand and risk rules (copies of the packaged defaults; edit them here).
  A file missing here falls back to the packaged default of the same name.
- `data/`: the dataset (`influx.duckdb`, `latest/`); profiles made up by the embedded server
  (no token set) go to `data/synthetic/`, never into the live dataset.

Next: `influx harvest` (no token: the embedded server answers with synthetic profiles; set
X_BEARER_TOKEN for the X API), then `influx report`, `influx qa sample`,
`influx rules explain HANDLE`.
"""


@dataclass(frozen=True)
class InitResult:
    folder: Path
    written: tuple[Path, ...]


def init_project(folder: Path) -> InitResult:
    """Write a project folder: the example seeds, the default rules, ``data/`` and a README.

    Refuses (and writes nothing) when any of the files exists already.
    """
    copies = {
        folder / default.project_path: packaged_path(default)
        for default in (EXAMPLE_SEEDS, BRAND_RULES, RISK_RULES)
    }
    readme = folder / "README.md"
    existing = [path for path in (*copies, readme) if path.exists()]
    if existing:
        raise ConfigError(
            f"{folder}: already a project folder, not overwriting "
            f"{', '.join(str(p) for p in existing)}; move them away or pick another folder"
        )
    try:
        contents = {target: source.read_bytes() for target, source in copies.items()}
        for target, data in contents.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
        readme.write_text(PROJECT_README, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write the project folder ({exc})") from exc
    return InitResult(folder, (*copies, readme, folder / DATA_DIR))
