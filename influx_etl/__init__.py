"""influx-etl: harvest, filter, score, validate and export X author records.

The public API is :data:`__all__`: run the pipeline (:func:`run_harvest`, :func:`run_automation`)
with a :class:`PipelineConfig`, and catch :class:`InfluxError`. Its names are imported on first
use, so ``import influx_etl`` (and every command's ``--help``) stays fast.

Importing the package imports jsonschema once, without ``rfc3987_syntax``. jsonschema's format
module registers every format whose checker package is installed; ``rfc3987_syntax`` (here because
the notebooks extra's Jupyter packages ask for ``jsonschema[format-nongpl]``) builds its grammar at
import time, most of every command's start-up (docs/performance.md). It only checks the formats
``iri`` and ``iri-reference``, which our schemas do not use (they use ``date-time``). So it is
hidden from that one import and nothing else: jsonschema's ``FORMAT_CHECKER`` then lacks those two
formats, and :func:`influx_etl.validate.validator_for` refuses a schema that uses them rather than
let it pass unchecked. Where jsonschema was imported before this package, nothing changes.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from influx_etl.automation import TargetReport, run_automation
    from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig
    from influx_etl.errors import InfluxError
    from influx_etl.exit_codes import ExitCode
    from influx_etl.pipeline import RunReport, load_rulebook, replay_run, run_harvest
    from influx_etl.store import Store

_PUBLIC = {
    "run_harvest": "influx_etl.pipeline",
    "replay_run": "influx_etl.pipeline",
    "load_rulebook": "influx_etl.pipeline",
    "RunReport": "influx_etl.pipeline",
    "run_automation": "influx_etl.automation",
    "TargetReport": "influx_etl.automation",
    "PipelineConfig": "influx_etl.config",
    "LookupSettings": "influx_etl.config",
    "OutputPaths": "influx_etl.config",
    "InfluxError": "influx_etl.errors",
    "ExitCode": "influx_etl.exit_codes",
    "Store": "influx_etl.store",
}

__all__ = [
    "ExitCode",
    "InfluxError",
    "LookupSettings",
    "OutputPaths",
    "PipelineConfig",
    "RunReport",
    "Store",
    "TargetReport",
    "load_rulebook",
    "replay_run",
    "run_automation",
    "run_harvest",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'influx_etl' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _import_jsonschema_without_iri_syntax() -> None:
    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        return
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import jsonschema  # noqa: F401
    finally:
        del sys.modules["rfc3987_syntax"]


_import_jsonschema_without_iri_syntax()
