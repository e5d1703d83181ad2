"""influx-etl: harvest, filter, score, validate and export X author records.

Importing the package imports jsonschema once, without ``rfc3987_syntax``. jsonschema's format
module registers every format whose checker package is installed; ``rfc3987_syntax`` (here because
the notebooks extra's Jupyter packages ask for ``jsonschema[format-nongpl]``) builds its grammar at
import time, which measured 0.8 s of the 1.4 s of ``influx-harvest --help``, on every command. It
only checks the formats ``iri`` and ``iri-reference``, which our schemas do not use (they use
``date-time``). So it is hidden from that one import and nothing else: jsonschema's
``FORMAT_CHECKER`` then lacks those two formats, and :func:`influx_etl.validate.validator_for`
refuses a schema that uses them rather than let it pass unchecked. Where jsonschema was imported
before this package, nothing changes.
"""

from __future__ import annotations

import sys


def _import_jsonschema_without_iri_syntax() -> None:
    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        return
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import jsonschema  # noqa: F401
    finally:
        del sys.modules["rfc3987_syntax"]


_import_jsonschema_without_iri_syntax()
