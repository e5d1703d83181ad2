"""JSON Schemas (a draft-07 subset) compiled into Polars expressions over whole frames of records.

:func:`compile_schemas` turns the record schemas into one :class:`CompiledSchemas`;
:meth:`CompiledSchemas.cleared` says, for every JSON text of a column at once, whether it is
*cleared*: certainly valid against every schema. A cleared text is valid for jsonschema too
(``tests/test_compiled_schema.py`` checks it against jsonschema on real, synthetic and mutated
records). A text that is not cleared is usually invalid, but may be valid in a form the fast path
does not prove (keys in another order, whitespace, ``1.0`` for an integer...): the caller asks
jsonschema about those (:func:`influx_etl.validate.validated`), and jsonschema's verdict and
messages are final. So the compiled schemas may be conservative, never lenient.

How a text is cleared:

1. **Shape.** All texts are decoded at once (DuckDB's ``json_transform``) into the *witness*
   type: the union of the schemas' ``properties`` / ``items`` / ``type`` as a Polars struct, in
   the schemas' key order (a value of another type is converted or nulled and a key the witness
   lacks dropped, never an error).
2. **Canonical form.** Each decoded row is encoded back (``struct.json_encode``) with its null
   members removed. A text equal to that is exactly the compact JSON of its decoded value: no
   key outside the witness, no ``null`` member, every value of the witness type, the witness's key
   order. Inside objects, a null field is therefore an *absent* key, and a null list element a
   JSON ``null``. Texts that differ are not cleared.
3. **Constraints.** Every keyword of every schema becomes an expression over the decoded value.
   Supported (:data:`SUPPORTED_KEYWORDS`): ``type, properties, required, additionalProperties``
   (true/false), ``items`` (one schema), ``enum, const`` (scalars), ``minimum, maximum,
   exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, minItems, maxItems,
   uniqueItems`` (scalar items), ``format: date-time`` and ``if/then/else``; annotations
   (:data:`ANNOTATIONS`) are ignored, as jsonschema ignores them. Anything else raises
   :class:`UnsupportedSchema`, so no constraint is ever skipped silently.

**Values the caller encoded** (:meth:`CompiledSchemas.checked_values`). When the texts were
made by ``struct.json_encode`` of values already of the witness type, with some ``"key":null``
members then removed (:func:`influx_etl.transform.record_documents`), nothing needs decoding: the
constraints run on those very values. Step 2 becomes two checks on what the encoder may write: a
text with a ``null`` member left is not cleared (a null field is read as an absent key), nor is a
value with a float that is not finite (the encoder writes NaN and infinities as ``null``). What is
left is, text for text, the canonical form of the values checked.

Exactness notes: a ``pattern`` is Python's ``re.search``; it is translated to the regex dialect of
Polars with Python's meaning kept (``$`` also matches before a final newline; ``\\d`` and ``\\s``
become the exact sets of characters Python matches) and anything whose meaning could differ
(``\\w``, ``\\b``, look-arounds, flags...) raises :class:`UnsupportedSchema`. ``date-time`` is
``rfc3339_validator`` on the upper-cased text, as jsonschema's format checker does; a text with
non-ASCII characters is left to jsonschema (upper-casing them is where the two languages'
Unicode tables could differ).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import duckdb
import polars as pl

from influx_etl import memory_db
from influx_etl.errors import UnsupportedSchema
from influx_etl.validate.patterns import python_regex

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

SUPPORTED_KEYWORDS: Final = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "format",
        "if",
        "then",
        "else",
    }
)
ANNOTATIONS: Final = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "examples",
        "default",
        "readOnly",
        "writeOnly",
        "schema_version",
    }
)
"""Keywords that constrain nothing (``schema_version`` is ours; jsonschema ignores it)."""

FORMATS: Final = frozenset({"date-time"})

_SCALAR_DTYPES: Final[dict[str, pl.DataType]] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
}


# -- the witness: the shape every schema describes ------------------------------------------------


@dataclass
class _Shape:
    kind: str | None = None
    """``object``, ``array``, a key of :data:`_SCALAR_DTYPES`, or None (not known yet)."""
    fields: dict[str, _Shape] = field(default_factory=dict)
    items: _Shape | None = None


def _kind_of(schema: Mapping[str, Any], where: str) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        raise UnsupportedSchema(f"{where}: a list of types ({kind}) is not supported")
    if kind is None:
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema:
            return "array"
        return None
    if kind not in ("object", "array", *_SCALAR_DTYPES):
        raise UnsupportedSchema(f"{where}: type {kind!r} is not supported")
    return str(kind)


def _add_shape(shape: _Shape, schema: Any, where: str) -> None:
    """Merge what ``schema`` says about the instance's shape into ``shape``."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"{where}: a schema must be an object or a boolean")
    kind = _kind_of(schema, where)
    if kind is not None:
        if shape.kind is not None and shape.kind != kind:
            raise UnsupportedSchema(f"{where}: one schema says {shape.kind}, another {kind}")
        shape.kind = kind
    for name, sub in (schema.get("properties") or {}).items():
        _add_shape(shape.fields.setdefault(name, _Shape()), sub, f"{where}.{name}")
    items = schema.get("items")
    if isinstance(items, dict):
        shape.items = shape.items or _Shape()
        _add_shape(shape.items, items, f"{where}[]")
    for branch in ("if", "then", "else"):
        if branch in schema:
            _add_shape(shape, schema[branch], where)


def _dtype(shape: _Shape, where: str) -> pl.DataType:
    if shape.kind == "object":
        if not shape.fields:
            raise UnsupportedSchema(f"{where}: an object with no known properties")
        return pl.Struct(
            {name: _dtype(sub, f"{where}.{name}") for name, sub in shape.fields.items()}
        )
    if shape.kind == "array":
        if shape.items is None:
            raise UnsupportedSchema(f"{where}: an array without an items schema")
        return pl.List(_dtype(shape.items, f"{where}[]"))
    if shape.kind is None:
        raise UnsupportedSchema(f"{where}: no schema gives this value a type")
    return _SCALAR_DTYPES[shape.kind]


# -- date-time: rfc3339_validator on the upper-cased text -----------------------------------------

_RFC3339: Final = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-[0-9]{2}T(?:[01][0-9]|2[0123]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0123]):[0-5][0-9])(?:\n?\z)"
)


def _date_time(text: pl.Expr) -> pl.Expr:
    """Where ``rfc3339_validator.validate_rfc3339(text.upper())`` holds: its regex, a year other
    than 0 and a day that exists in its month (ASCII texts only; the others are not cleared)."""
    # On ASCII text, upper-casing changes only a-z, and the regex's only letters are T and Z: a
    # case-insensitive search is the same test without an upper-cased copy per use. Upper-casing
    # leaves the date's digits and dashes as they are.
    # the calendar check by the date parser: 2023-02-29 and 2025-04-31 do not parse
    date = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    ascii_only = ~text.str.contains(r"[^\x00-\x7f]")
    rfc3339 = text.str.contains(f"(?i){_RFC3339}")
    return (ascii_only & rfc3339 & (date.dt.year() != 0)).fill_null(False)


# -- keywords -------------------------------------------------------------------------------------


def _json_equal_members(values: Iterable[Any], kind: str, where: str) -> list[Any]:
    """The members of an ``enum``/``const`` an instance of JSON type ``kind`` can be equal to."""
    members: list[Any] = []
    for value in values:
        if isinstance(value, dict | list):
            raise UnsupportedSchema(f"{where}: enum/const members that are objects or arrays")
        if (kind == "string" and isinstance(value, str)) or (
            kind == "boolean" and isinstance(value, bool)
        ):
            members.append(value)
        elif (
            kind in ("integer", "number")
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            members.append(float(value))
    return members


def _one_of(value: pl.Expr, kind: str | None, members: Sequence[Any], where: str) -> pl.Expr:
    """Non-null ``value`` (of JSON type ``kind``) equal to one of ``members`` (jsonschema's
    ``equal``: booleans are not numbers, ``1 == 1.0``); a null is a JSON null."""
    is_null = value.is_null()
    null_allowed = pl.lit(any(member is None for member in members))
    if kind in ("object", "array") or kind is None:
        _json_equal_members(members, "object", where)  # raises on object/array members
        return is_null & null_allowed
    matching = _json_equal_members(members, kind, where)
    if not matching:
        return is_null & null_allowed
    dtype: pl.DataType
    if kind in ("integer", "number"):
        value, dtype = value.cast(pl.Float64), pl.Float64()
    else:
        dtype = pl.String() if kind == "string" else pl.Boolean()
    members_list = pl.lit(pl.Series(matching, dtype=dtype)).implode()
    return is_null & null_allowed | value.is_in(members_list).fill_null(False)


def _all(expressions: Iterable[pl.Expr]) -> pl.Expr:
    """The AND of ``expressions`` (Kleene's, as ``&``), true when there are none.

    One ``all_horizontal`` node rather than a chain of ``&`` one level deeper per check: Polars
    prepares the expression of the bundled schema on every call, and the deep chain made that
    slow even for a few records (docs/performance.md).
    """
    listed = list(expressions)
    if not listed:
        return pl.lit(True)
    return listed[0] if len(listed) == 1 else pl.all_horizontal(listed)


def _valid(
    schema: Any,
    value: pl.Expr,
    shape: _Shape,
    where: str,
    members: Callable[[str], pl.Expr] | None = None,
) -> pl.Expr:
    """True where the instance ``value`` is valid against ``schema``.

    ``value`` is the decoded instance; null stands for a JSON ``null`` (absent properties are
    handled by the parent object). Its JSON type otherwise is ``shape.kind`` (the witness's).
    ``members`` reads an object's members by name (default: the fields of the ``value`` struct).
    """
    if schema is True:
        return pl.lit(True)
    if schema is False:
        return pl.lit(False)
    assert isinstance(schema, dict)
    unknown = set(schema) - SUPPORTED_KEYWORDS - ANNOTATIONS
    if unknown:
        raise UnsupportedSchema(f"{where}: keyword(s) {', '.join(sorted(unknown))} not supported")
    kind = shape.kind
    is_null = value.is_null()
    present = ~is_null
    checks: list[pl.Expr] = []

    if "type" in schema:
        allowed = schema["type"]
        if isinstance(allowed, list):
            raise UnsupportedSchema(f"{where}: a list of types is not supported")
        if kind == allowed or (kind == "integer" and allowed == "number"):
            type_ok: pl.Expr = pl.lit(True)
        elif kind == "number" and allowed == "integer":
            type_ok = (value == value.floor()) & value.is_finite()
        else:
            type_ok = pl.lit(False)
        checks.append(is_null & pl.lit(allowed == "null") | present & type_ok.fill_null(False))
    if "enum" in schema:
        checks.append(_one_of(value, kind, schema["enum"], where))
    if "const" in schema:
        checks.append(_one_of(value, kind, [schema["const"]], where))

    typed: list[pl.Expr] = []  # keywords that apply to one JSON type only
    if kind == "object":
        typed += _object_checks(schema, value, shape, where, members)
    elif kind == "array":
        typed += _array_checks(schema, value, shape, where)
    elif kind in ("integer", "number"):
        typed += _number_checks(schema, value)
    elif kind == "string":
        typed += _string_checks(schema, value, where)
    if typed:
        checks.append(is_null | _all(typed).fill_null(False))

    if "if" in schema:
        condition = _valid(schema["if"], value, shape, f"{where}(if)", members)
        then = _valid(schema.get("then", True), value, shape, f"{where}(then)", members)
        otherwise = _valid(schema.get("else", True), value, shape, f"{where}(else)", members)
        checks.append(pl.when(condition).then(then).otherwise(otherwise))
    return _all(checks)


def _object_checks(
    schema: Mapping[str, Any],
    value: pl.Expr,
    shape: _Shape,
    where: str,
    members: Callable[[str], pl.Expr] | None = None,
) -> list[pl.Expr]:
    def field(name: str) -> pl.Expr:
        return value.struct.field(name) if members is None else members(name)

    checks: list[pl.Expr] = []
    properties: Mapping[str, Any] = schema.get("properties") or {}
    for name, sub in properties.items():
        member = field(name)
        # a null member is an absent key (the canonical form has no null members)
        checks.append(member.is_null() | _valid(sub, member, shape.fields[name], f"{where}.{name}"))
    for name in schema.get("required", []):
        if name in shape.fields:
            checks.append(field(name).is_not_null())
        else:
            checks.append(pl.lit(False))
    additional = schema.get("additionalProperties", True)
    if additional is False:
        checks += [field(name).is_null() for name in shape.fields if name not in properties]
    elif additional is not True:
        raise UnsupportedSchema(f"{where}: additionalProperties other than true or false")
    return checks


def _array_checks(
    schema: Mapping[str, Any], value: pl.Expr, shape: _Shape, where: str
) -> list[pl.Expr]:
    checks: list[pl.Expr] = []
    items = schema.get("items", True)
    if isinstance(items, list):
        raise UnsupportedSchema(f"{where}: items as a list of schemas is not supported")
    if items is False:
        checks.append(value.list.len() == 0)
    elif items is not True:
        assert shape.items is not None
        item = _valid(items, pl.element(), shape.items, f"{where}[]")
        checks.append(value.list.eval(item).list.all())
    if "minItems" in schema:
        checks.append(value.list.len() >= schema["minItems"])
    if "maxItems" in schema:
        checks.append(value.list.len() <= schema["maxItems"])
    if schema.get("uniqueItems") is True:
        if shape.items is None or shape.items.kind in ("object", "array", None):
            raise UnsupportedSchema(f"{where}: uniqueItems is supported on arrays of scalars")
        checks.append(value.list.n_unique() == value.list.len())
    return checks


def _number_checks(schema: Mapping[str, Any], value: pl.Expr) -> list[pl.Expr]:
    checks: list[pl.Expr] = []
    bounds = {
        "minimum": value.__ge__,
        "maximum": value.__le__,
        "exclusiveMinimum": value.__gt__,
        "exclusiveMaximum": value.__lt__,
    }
    for keyword, compare in bounds.items():
        if keyword in schema:
            limit = schema[keyword]
            if isinstance(limit, bool) or not isinstance(limit, int | float):
                raise UnsupportedSchema(f"{keyword} must be a number, got {limit!r}")
            checks.append(compare(limit))
    return checks


def _string_checks(schema: Mapping[str, Any], value: pl.Expr, where: str) -> list[pl.Expr]:
    checks: list[pl.Expr] = []
    if "minLength" in schema:
        checks.append(value.str.len_chars() >= schema["minLength"])
    if "maxLength" in schema:
        checks.append(value.str.len_chars() <= schema["maxLength"])
    if "pattern" in schema:
        checks.append(value.str.contains(python_regex(schema["pattern"], where)))
    if "format" in schema:
        if schema["format"] not in FORMATS:
            raise UnsupportedSchema(f"{where}: format {schema['format']!r} is not supported")
        checks.append(_date_time(value))
    return checks


# -- the whole frame ------------------------------------------------------------------------------

_DOCUMENT: Final = "__document"
_NULL_MEMBER: Final = r'":null[,}]'
"""A ``"key":null`` member of compact JSON, and any string holding ``\\":null,`` or ``\\":null}``:
such a text is merely not cleared."""
_NULL_MEMBER_AFTER_COMMA: Final = r',"[^"\\]*":null'
_NULL_MEMBER_FIRST: Final = r'\{"[^"\\]*":null,?'


def without_null_members(encoded: pl.Expr) -> pl.Expr:
    """JSON text with every ``"key":null`` object member removed (see
    :func:`influx_etl.transform.without_null_keys`, which does it for some keys: a ``,"`` or
    ``{"`` never occurs inside a JSON string, whose quotes are all escaped)."""
    return encoded.str.replace_all(_NULL_MEMBER_AFTER_COMMA, "").str.replace_all(
        _NULL_MEMBER_FIRST, "{"
    )


@dataclass(frozen=True)
class Checked:
    """What :meth:`CompiledSchemas.checked` found."""

    cleared: pl.Series
    """Per text: certainly valid against every schema."""
    decoded: pl.DataFrame
    """Per text: the value decoded into the witness type (one column per top-level property);
    for a cleared text, exactly the value its JSON holds (absent keys as nulls)."""


@dataclass(frozen=True)
class CompiledSchemas:
    """Schemas compiled for :meth:`checked`; made by :func:`compile_schemas`."""

    witness: pl.Schema
    valid: pl.Expr
    """True where the decoded document is valid against every schema: over the decoded frame
    (one column per top-level property) with the whole document as the struct ``__document``."""

    def cleared(self, texts: pl.Series) -> pl.Series:
        """Per text: whether it is certainly valid against every schema (see the module doc)."""
        return self.checked(texts).cleared

    def checked(self, texts: pl.Series) -> Checked:
        """:meth:`cleared`, with the decoded values. A null text, or one that is not JSON, is
        not cleared."""
        texts = texts.cast(pl.String).rename("json")
        decoded, readable = self._decoded(texts)
        document = pl.struct(pl.all()).alias(_DOCUMENT)
        verdict = decoded.with_columns(document).select(
            canonical=without_null_members(pl.col(_DOCUMENT).struct.json_encode()),
            valid=self.valid.fill_null(False),
        )
        cleared = ((verdict["canonical"] == texts) & verdict["valid"] & readable).fill_null(False)
        return Checked(cleared=cleared.rename("cleared"), decoded=decoded)

    def checked_unencoded(
        self, values: pl.DataFrame, omitted_when_null: Collection[str]
    ) -> Checked | None:
        """:meth:`checked_values` for values whose texts are not made yet: each will be
        ``pl.struct(values row).struct.json_encode()`` with every ``"key":null`` member of a key
        in ``omitted_when_null`` removed, at any depth (:func:`influx_etl.transform.record_text`).

        A text with a ``null`` member left is not cleared: here, a value with a null field (at
        any depth, in a present object) whose key is not in ``omitted_when_null``. Everything
        else is :meth:`checked_values`'. Rendering the texts is the costly part, about half of it
        removing the null members (docs/performance.md).
        """
        if values.schema != self.witness:
            return None
        omitted = frozenset(omitted_when_null)
        null_members = [
            check
            for name, dtype in self.witness.items()
            if (check := _null_member(pl.col(name), name, dtype, omitted)) is not None
        ]
        null_member = pl.any_horizontal(null_members) if null_members else pl.lit(False)
        return self._checked_as_encoded(values, values.select(null_member).to_series())

    @functools.cached_property
    def _finite(self) -> pl.Expr:
        """True where every float of the values is finite or null (:func:`_finite`)."""
        return _all(
            check
            for name, dtype in self.witness.items()
            if (check := _finite(pl.col(name), dtype)) is not None
        )

    def checked_values(self, values: pl.DataFrame, texts: pl.Series) -> Checked | None:
        """:meth:`checked` for texts the caller encoded from ``values`` (one row per text), without
        decoding them: None when ``values`` is not exactly of the witness type (then call
        :meth:`checked`).

        Each text must be ``pl.struct(values row).struct.json_encode()`` with some ``"key":null``
        members removed and nothing else changed (:func:`influx_etl.transform.record_documents`
        makes them so). A text is cleared when no ``null`` member is left in it (it is then the
        canonical form of its values), every float of its values is finite (the encoder writes
        NaN and infinities as ``null``: the text would not hold the value checked) and the
        values are valid. ``decoded`` is ``values``. Far faster than :meth:`checked`, which
        decodes (docs/performance.md).
        """
        if values.schema != self.witness:
            return None
        return self._checked_as_encoded(values, texts.cast(pl.String).str.contains(_NULL_MEMBER))

    def _checked_as_encoded(self, values: pl.DataFrame, null_member: pl.Series) -> Checked:
        """Cleared: valid values, every float finite, and no ``null`` member left in the text
        (``null_member``, per row)."""
        verdict = values.with_columns(pl.struct(pl.all()).alias(_DOCUMENT)).select(
            valid=self.valid.fill_null(False), finite=self._finite.fill_null(False)
        )
        cleared = (verdict["valid"] & verdict["finite"] & ~null_member).fill_null(False)
        return Checked(cleared=cleared.rename("cleared"), decoded=values)

    def _decoded(self, texts: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
        """The texts decoded into the witness type by DuckDB's JSON reader (faster than
        ``pl.read_ndjson``), and which texts were JSON. A value of another type is converted or
        null (the canonical comparison then fails). The database is the process's
        (:mod:`influx_etl.memory_db`): opening one per call cost time (docs/performance.md)."""
        frame = texts.to_frame()
        readable = texts.is_not_null()
        with memory_db.cursor() as connection:
            connection.register("texts", frame)
            try:
                decoded = connection.sql(self._decode_sql).pl()
            except duckdb.Error:
                # some text is not JSON: decode the ones that are (json_valid is a second parse,
                # paid only here)
                readable = connection.sql("SELECT json_valid(json) AS ok FROM texts").pl()["ok"]
                readable = readable.fill_null(False)
                connection.register(
                    "texts",
                    frame.with_columns(pl.when(readable).then(pl.col("json")).alias("json")),
                )
                decoded = connection.sql(self._decode_sql).pl()
        return decoded.select(
            pl.col(name).cast(dtype) for name, dtype in self.witness.items()
        ), readable

    @functools.cached_property
    def _decode_sql(self) -> str:
        structure = json.dumps(_structure(pl.Struct(self.witness))).replace("'", "''")
        return f"SELECT unnest(json_transform(json, '{structure}')) FROM texts"


def _finite(value: pl.Expr, dtype: PolarsDataType) -> pl.Expr | None:
    """True where every float in ``value`` (of type ``dtype``, at any depth) is finite or null;
    None when the type holds no float."""
    if dtype == pl.Float64:
        return value.is_finite().fill_null(True)
    if isinstance(dtype, pl.Struct):
        checks = [
            check
            for member in dtype.fields
            if (check := _finite(value.struct.field(member.name), member.dtype)) is not None
        ]
        return _all(checks).fill_null(True) if checks else None
    if isinstance(dtype, pl.List):
        inner = _finite(pl.element(), dtype.inner)
        return None if inner is None else value.list.eval(inner).list.all().fill_null(True)
    return None


def _null_member(
    value: pl.Expr, name: str, dtype: PolarsDataType, omitted: frozenset[str]
) -> pl.Expr | None:
    """True where encoding the member ``name`` (``value``, of type ``dtype``) leaves a
    ``"name":null`` member in the text, here or inside it (a key in ``omitted`` is removed when
    null); None when it never can. A null object or list writes no member inside it; a null list
    element is written ``null``, not as a member."""
    own = None if name in omitted else value.is_null()
    inner = _null_member_inside(value, dtype, omitted)
    if inner is None:
        return own
    inner = inner.fill_null(False)
    return inner if own is None else own | inner


def _null_member_inside(
    value: pl.Expr, dtype: PolarsDataType, omitted: frozenset[str]
) -> pl.Expr | None:
    if isinstance(dtype, pl.Struct):
        checks = [
            check
            for member in dtype.fields
            if (
                check := _null_member(
                    value.struct.field(member.name), member.name, member.dtype, omitted
                )
            )
            is not None
        ]
        return pl.any_horizontal(checks) if checks else None
    if isinstance(dtype, pl.List):
        inner = _null_member_inside(pl.element(), dtype.inner, omitted)
        return None if inner is None else value.list.eval(inner.fill_null(False)).list.any()
    return None


def _structure(dtype: PolarsDataType) -> Any:
    """DuckDB's ``json_transform`` structure for a witness type."""
    if isinstance(dtype, pl.Struct):
        return {f.name: _structure(f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List):
        return [_structure(dtype.inner)]
    for scalar, name in _DUCKDB_TYPES:
        if dtype == scalar:
            return name
    raise UnsupportedSchema(f"no DuckDB type for {dtype}")


_DUCKDB_TYPES: Final = (
    (pl.String, "VARCHAR"),
    (pl.Int64, "BIGINT"),
    (pl.Float64, "DOUBLE"),
    (pl.Boolean, "BOOLEAN"),
)


def compile_schemas(schemas: Sequence[Mapping[str, Any]]) -> CompiledSchemas:
    """Compile record schemas (each an object at the top) into one :class:`CompiledSchemas`.

    Raises :class:`UnsupportedSchema` when a schema uses something not listed in the module doc.
    """
    if not schemas:
        raise UnsupportedSchema("no schema to compile")
    shape = _Shape()
    for index, schema in enumerate(schemas):
        _add_shape(shape, schema, f"schema {index + 1}")
    if shape.kind != "object":
        raise UnsupportedSchema("a record schema must describe an object")
    if _DOCUMENT in shape.fields:
        raise UnsupportedSchema(f"a top-level property may not be named {_DOCUMENT!r}")
    witness = _dtype(shape, "$")
    assert isinstance(witness, pl.Struct)
    # the top-level members are read as the decoded frame's columns rather than as fields of
    # the wide document struct, which is faster (docs/performance.md, "Design choices")
    document = pl.col(_DOCUMENT)
    valid = _all(
        _valid(schema, document, shape, _schema_name(schema, index), lambda name: pl.col(name))
        for index, schema in enumerate(schemas)
    )
    return CompiledSchemas(witness=pl.Schema(witness.to_schema()), valid=valid)


def _schema_name(schema: Mapping[str, Any], index: int) -> str:
    return str(schema.get("$id") or f"schema {index + 1}")


@functools.lru_cache(maxsize=16)
def _compiled(key: str) -> CompiledSchemas:
    return compile_schemas(json.loads(key))


def compiled_schemas(schemas: Sequence[Mapping[str, Any]]) -> CompiledSchemas:
    """:func:`compile_schemas`, memoised on the schemas' content (a run compiles them once)."""
    return _compiled(json.dumps(list(schemas), sort_keys=False))


__all__ = [
    "ANNOTATIONS",
    "SUPPORTED_KEYWORDS",
    "Checked",
    "CompiledSchemas",
    "UnsupportedSchema",
    "compile_schemas",
    "compiled_schemas",
    "python_regex",
    "without_null_members",
]
