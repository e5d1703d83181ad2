"""The compiled schemas against jsonschema, record by record (a differential test).

Records: real ones (the real users of ``../shared`` through the pipeline's stages, skipped when it
is absent), synthetic ones, and each of them mutated so that every constraint of both schemas is
violated once (the sites are found by walking the schemas, so a constraint added to a schema is
mutated too). For every text the compiled verdict must equal jsonschema's: a canonical text (the
compact JSON the pipeline writes) is cleared exactly when jsonschema accepts it; any other text is
never cleared wrongly, and :func:`influx_etl.validate.validated` still gives jsonschema's verdict.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from jsonschema import Draft7Validator

from influx_etl import score, transform, validate
from influx_etl.apisim.synthetic import synthetic_profiles
from influx_etl.config import DEFAULT_SCHEMA
from influx_etl.validate.compiled import (
    ANNOTATIONS,
    CompiledSchemas,
    UnsupportedSchema,
    compile_schemas,
    without_null_members,
)
from tests.factories import kept_frame, load_users

Record = dict[str, Any]
Path_ = tuple[str, ...]


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    return validate.load_schema(DEFAULT_SCHEMA)


@pytest.fixture
def schemas(ours: dict[str, Any], shared_compat_dir: Path) -> list[dict[str, Any]]:
    return [ours, validate.load_schema(shared_compat_dir / "bigv.schema.json")]


def records_of(users: list[dict[str, Any]], origin: str) -> list[Record]:
    """Records as the export writes them (ranks, composite scores, topic ranks)."""
    kept = kept_frame(users, origin=origin, categories=("AI research", "Open source"))
    authors = score.scored(transform.author_records(kept, "2025-11-20T09:00:00Z"))
    documents = transform.record_documents(score.rescored(authors, score.Scoring()))
    return [json.loads(text) for text in documents["json"]]


@pytest.fixture(scope="module")
def synthetic_records() -> list[Record]:
    return records_of(synthetic_profiles(300, seed=3), "synthetic")


@pytest.fixture
def real_records(shared_real_users: Path) -> list[Record]:
    return records_of(load_users(shared_real_users), "recorded")


def canonical(record: Record) -> str:
    """The compact JSON the pipeline writes (keys in the record's order)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def jsonschema_valid(schemas: list[dict[str, Any]], text: str) -> bool:
    instance = json.loads(text)
    return all(
        Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER).is_valid(instance)
        for schema in schemas
    )


def verdicts(schemas: list[dict[str, Any]], texts: list[str]) -> tuple[list[bool], list[bool]]:
    compiled = compile_schemas(schemas).cleared(pl.Series(texts, dtype=pl.String)).to_list()
    return compiled, [jsonschema_valid(schemas, text) for text in texts]


# -- mutations: every constraint of the schemas, violated once ------------------------------------


def constraint_sites(schema: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str, Any, Any]]:
    """``(instance path, keyword, value, schema)`` of every constraint; ``[]`` is "an item"."""
    if not isinstance(schema, dict):
        return
    for keyword, value in schema.items():
        if keyword == "properties":
            for name, sub in value.items():
                yield from constraint_sites(sub, (*path, name))
        elif keyword == "items":
            yield from constraint_sites(value, (*path, "[]"))
        elif keyword in ("if", "then", "else"):
            continue  # the branches get cases of their own below
        elif keyword not in ANNOTATIONS:
            yield path, keyword, value, schema


def _parent(record: Record, path: Path_) -> tuple[Any, str | int] | None:
    node: Any = record
    for part in path[:-1]:
        if part == "[]":
            if not isinstance(node, list) or not node:
                return None
            node = node[0]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    last = path[-1]
    if last == "[]":
        return (node, 0) if isinstance(node, list) and node else None
    return (node, last) if isinstance(node, dict) else None


def with_value(record: Record, path: Path_, value: Any) -> Record | None:
    mutated = copy.deepcopy(record)
    if not path:
        return None
    found = _parent(mutated, path)
    if found is None:
        return None
    node, key = found
    node[key] = value
    return mutated


def at(record: Record, path: Path_) -> Any:
    found = _parent(record, path) if path else (None, None)
    if found is None or found[0] is None:
        return record if not path else None
    node, key = found
    return node[key] if (isinstance(node, list) or key in node) else None


_WRONG_TYPE = {
    "string": 12345,
    "integer": 1.5,
    "number": "1.5",
    "boolean": "true",
    "array": "not an array",
    "object": ["not", "an", "object"],
}


def violations(record: Record, path: Path_, keyword: str, value: Any, schema: Any) -> list[Record]:
    """Copies of ``record`` violating ``keyword`` at ``path`` (none when the path is absent)."""
    kind = schema.get("type")
    if keyword == "type":
        return [m for m in [with_value(record, path, _WRONG_TYPE[value])] if m]
    if keyword == "required":
        out = []
        for name in value:
            mutated = copy.deepcopy(record)
            target = at(mutated, path)
            if isinstance(target, dict) and name in target:
                del target[name]
                out.append(mutated)
        return out
    if keyword == "additionalProperties" and value is False:
        mutated = copy.deepcopy(record)
        target = at(mutated, path)
        if isinstance(target, dict):
            target["zz_unknown"] = 1
            return [mutated]
        return []
    if keyword in ("enum", "const"):
        return [m for m in [with_value(record, path, "zz-not-allowed")] if m]
    if keyword == "pattern":
        candidates = ["", "!!", "A B", "Zz z", "123", "abc", "2025-01-01T00:00:00+00:00"]
        bad = next(c for c in candidates if re.search(value, c) is None)
        return [m for m in [with_value(record, path, bad)] if m]
    if keyword == "minLength":
        return [m for m in [with_value(record, path, "")] if m] if value >= 1 else []
    if keyword in ("minimum", "maximum"):
        step = -1 if keyword == "minimum" else 1
        bad = value + step if kind == "integer" else float(value) + 0.5 * step
        return [m for m in [with_value(record, path, bad)] if m]
    if keyword == "minItems":
        return [m for m in [with_value(record, path, [])] if m] if value >= 1 else []
    if keyword == "uniqueItems":
        current = at(record, path)
        item = current[0] if isinstance(current, list) and current else "same"
        return [m for m in [with_value(record, path, [item, item])] if m]
    if keyword == "format":
        bad = ["2023-02-29T00:00:00Z", "2025-04-31T12:00:00Z", "0000-01-01T00:00:00Z"]
        return [m for b in bad if (m := with_value(record, path, b))]
    if keyword == "additionalProperties":
        return []
    raise AssertionError(f"no mutation for keyword {keyword!r} at {path}: add one")


def mutated_texts(records: list[Record], schemas: list[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    sites = [site for schema in schemas for site in constraint_sites(schema)]
    assert len(sites) > 50, "the walk should find every constraint of both schemas"
    for record in records:
        for site in sites:
            texts += [canonical(m) for m in violations(record, *site)]
    return texts


def branch_and_edge_cases(record: Record) -> list[str]:
    """The if/then/else branch and the corners where Python's and Polars' regexes differ."""
    cases: list[Record] = []

    def edit(change: Any) -> None:
        mutated = copy.deepcopy(record)
        change(mutated)
        cases.append(mutated)

    def method(value: str, origin: str | None = None) -> Any:
        def change(r: Record) -> None:
            r["meta"]["sources"][0]["method"] = value
            if origin is not None:
                r["ext"]["origin"] = origin

        return change

    edit(method("twitter-api-v2"))  # else branch: ours refuses a foreign method
    edit(method("twitter-api-v2", "imported"))  # then branch: an imported record keeps it
    edit(lambda r: r.update(handle=r["handle"] + "\n"))  # Python's $ before a final newline
    edit(lambda r: r.update(handle=r["handle"] + "\n\n"))
    edit(lambda r: r.update(lang_primary="en\n"))
    edit(lambda r: r.update(topic_tags=["a\u00a0b"]))  # \s: a no-break space
    edit(lambda r: r.update(topic_tags=["a\x1cb"]))  # \s in Python only: a file separator
    edit(lambda r: r.update(topic_tags=["a\u2003b", "ok"]))
    edit(lambda r: r.update(topic_tags=["é_ü", "日本"]))
    edit(lambda r: r.update(id="١٢٣"))  # Arabic-Indic digits are not [0-9]
    edit(lambda r: r["meta"].update(last_refresh_at="2024-02-29T23:59:59Z"))  # a leap day
    edit(lambda r: r["meta"].update(last_refresh_at="2024-02-29T23:59:59Z\n"))
    edit(lambda r: r["meta"].update(last_refresh_at="2025-11-20t10:00:00z"))
    edit(lambda r: r["meta"].update(last_refresh_at="2025-11-20T10:00:00.123456Z"))
    edit(lambda r: r["meta"].update(last_refresh_at="２０２５-11-20T10:00:00Z"))
    edit(lambda r: r["meta"].update(score=100.0))
    edit(lambda r: r["meta"].update(score=0.0))
    edit(lambda r: r["meta"].update(rank_global=1))
    edit(lambda r: r.update(followers_count=0))
    edit(lambda r: r["ext"].update(rank_topic=[]))
    edit(lambda r: r.update(topic_tags=[]))
    edit(lambda r: r.update(topic_tags=None))
    edit(lambda r: r["meta"].update(sources=[None]))
    edit(lambda r: r["ext"].pop("origin"))
    return [canonical(case) for case in cases]


# -- the differential tests -----------------------------------------------------------------------


def assert_same_verdicts(schemas: list[dict[str, Any]], texts: list[str]) -> None:
    compiled, expected = verdicts(schemas, texts)
    differing = [text for text, c, e in zip(texts, compiled, expected, strict=True) if c != e]
    assert not differing, f"{len(differing)} verdicts differ, e.g. {differing[:3]}"


@pytest.mark.shared
def test_real_records_are_cleared(
    schemas: list[dict[str, Any]], real_records: list[Record]
) -> None:
    texts = [canonical(record) for record in real_records]
    compiled, expected = verdicts(schemas, texts)
    assert all(expected) and all(compiled)


@pytest.mark.shared
def test_synthetic_records_are_cleared(
    schemas: list[dict[str, Any]], synthetic_records: list[Record]
) -> None:
    texts = [canonical(record) for record in synthetic_records]
    compiled, expected = verdicts(schemas, texts)
    assert all(expected) and all(compiled)


@pytest.mark.shared
def test_every_violated_constraint_is_caught_like_jsonschema(
    schemas: list[dict[str, Any]], real_records: list[Record], synthetic_records: list[Record]
) -> None:
    sample = real_records[:20] + synthetic_records[:20]
    texts = mutated_texts(sample, schemas)
    assert len(texts) > 2_000
    compiled, expected = verdicts(schemas, texts)
    assert sum(expected) < len(texts) / 10, "mutations should mostly break a constraint"
    assert compiled == expected


@pytest.mark.shared
def test_branches_and_regex_corners_agree_with_jsonschema(
    schemas: list[dict[str, Any]], synthetic_records: list[Record]
) -> None:
    texts = [text for record in synthetic_records[:10] for text in branch_and_edge_cases(record)]
    compiled, expected = verdicts(schemas, texts)
    assert any(expected) and not all(expected)
    assert compiled == expected


def test_our_schema_alone_agrees_with_jsonschema(
    ours: dict[str, Any], synthetic_records: list[Record]
) -> None:
    texts = [canonical(r) for r in synthetic_records[:30]]
    texts += mutated_texts(synthetic_records[:5], [ours])
    texts += [text for record in synthetic_records[:3] for text in branch_and_edge_cases(record)]
    assert_same_verdicts([ours], texts)


def test_other_forms_of_valid_records_are_left_to_jsonschema(
    ours: dict[str, Any], synthetic_records: list[Record]
) -> None:
    """Valid JSON the fast path does not prove (whitespace, key order, 1.0 for an integer) is
    not cleared, and ``validated`` still finds it valid through jsonschema."""
    record = synthetic_records[0]
    reordered = dict(reversed(list(record.items())))
    floats = {**record, "followers_count": float(record["followers_count"])}
    texts = [json.dumps(record), canonical(reordered), canonical(floats), " " + canonical(record)]
    compiled, expected = verdicts([ours], texts)
    assert expected == [True] * 4 and compiled == [False] * 4
    documents = pl.DataFrame({"id": ["1"] * 4, "handle": ["h"] * 4, "json": texts})
    checked = validate.validated(documents, [validate.validator_for(ours)])
    assert checked.valid.height == 4 and checked.invalid.is_empty()


def test_texts_that_are_not_json_objects_are_not_cleared(ours: dict[str, Any]) -> None:
    texts = ["not json", "", "[1, 2]", "null", "123", '"text"', "{}", '{"id": "1"', None]
    cleared = compile_schemas([ours]).cleared(pl.Series(texts, dtype=pl.String))
    assert not cleared.any()


def test_validated_gives_jsonschemas_verdict_and_messages(
    ours: dict[str, Any], synthetic_records: list[Record]
) -> None:
    good = canonical(synthetic_records[0])
    bad_record = copy.deepcopy(synthetic_records[1])
    bad_record["meta"]["score"] = 101.0
    documents = pl.DataFrame(
        {"id": ["1", "2"], "handle": ["a", "b"], "json": [good, canonical(bad_record)]}
    )
    checked = validate.validated(documents, [validate.validator_for(ours)])
    assert checked.valid["id"].to_list() == ["1"]
    assert checked.invalid.select("id", "path").rows() == [("2", "meta.score")]
    assert "101.0 is greater than the maximum of 100" in checked.invalid["message"].item()


# -- values the caller encoded: CompiledSchemas.checked_values -----------------------------------


def values_of(records: list[Record], witness: pl.Schema) -> pl.DataFrame:
    """The records as values of the witness type; a record with no such form (a value of another
    type) is left out, a key the witness lacks dropped."""
    frames = []
    for record in records:
        try:
            frames.append(pl.DataFrame([record], schema=witness))
        except (pl.exceptions.PolarsError, TypeError, ValueError, OverflowError):
            continue
    return pl.concat(frames)


def encoded(values: pl.DataFrame, *, drop_nulls: bool = True) -> pl.Series:
    """The values' JSON as the encoder writes it, with (``drop_nulls``) its null members removed."""
    text = pl.struct(pl.all()).struct.json_encode()
    return values.select(without_null_members(text) if drop_nulls else text).to_series()


def values_verdicts(
    schemas: list[dict[str, Any]], records: list[Record], *, drop_nulls: bool = True
) -> tuple[list[str], list[bool], list[bool]]:
    """Texts encoded from the records' values; the compiled verdict on the values and
    jsonschema's on the texts."""
    compiled = compile_schemas(schemas)
    values = values_of(records, compiled.witness)
    texts = encoded(values, drop_nulls=drop_nulls)
    checked = compiled.checked_values(values, texts)
    assert checked is not None
    assert checked.decoded is values
    expected = [jsonschema_valid(schemas, text) for text in texts]
    return texts.to_list(), checked.cleared.to_list(), expected


def mutated_records(records: list[Record], schemas: list[dict[str, Any]]) -> list[Record]:
    sites = [site for schema in schemas for site in constraint_sites(schema)]
    mutated = [m for record in records for site in sites for m in violations(record, *site)]
    edges = [json.loads(text) for record in records[:3] for text in branch_and_edge_cases(record)]
    return records + mutated + edges


def test_encoded_values_are_cleared_exactly_when_jsonschema_accepts_them(
    ours: dict[str, Any], synthetic_records: list[Record]
) -> None:
    """The struct path's differential test: values built from valid, mutated and edge-case
    records, each encoded as the pipeline writes it; cleared exactly where jsonschema accepts the
    text."""
    records = mutated_records(synthetic_records[:5], [ours])
    texts, compiled, expected = values_verdicts([ours], records)
    assert len(texts) > 300
    assert any(expected) and sum(expected) < len(texts) / 2, "mutations should mostly break one"
    differing = [text for text, c, e in zip(texts, compiled, expected, strict=True) if c != e]
    assert not differing, f"{len(differing)} verdicts differ, e.g. {differing[:3]}"


@pytest.mark.shared
def test_encoded_values_agree_with_jsonschema_for_both_schemas(
    schemas: list[dict[str, Any]], real_records: list[Record], synthetic_records: list[Record]
) -> None:
    records = mutated_records(real_records[:10] + synthetic_records[:10], schemas)
    texts, compiled, expected = values_verdicts(schemas, records)
    assert len(texts) > 1_000
    assert compiled == expected


def test_encoded_values_with_null_members_left_are_not_cleared(
    ours: dict[str, Any], synthetic_records: list[Record]
) -> None:
    """A null member left in the text (an optional key the schema types) is read as an absent key
    by the compiled schemas: such a text is never cleared, whatever jsonschema says of it."""
    records = mutated_records(synthetic_records[:3], [ours])
    texts, compiled, expected = values_verdicts([ours], records, drop_nulls=False)
    assert all(":null" in text for text in texts), "every record has an absent optional key"
    assert not any(compiled)
    assert not any(expected)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(
    "where", [("meta", "score"), ("ext", "brand_confidence"), ("ext", "composite_score")]
)
def test_encoded_values_with_a_float_that_is_not_finite_are_not_cleared(
    ours: dict[str, Any], synthetic_records: list[Record], value: float, where: tuple[str, str]
) -> None:
    """The encoder writes NaN and infinities as null: the text no longer holds the value checked
    (an optional key then vanishes, a required one is null), so it is left to jsonschema."""
    record = copy.deepcopy(synthetic_records[0])
    record[where[0]][where[1]] = value
    compiled = compile_schemas([ours])
    values = values_of([record], compiled.witness)
    texts = encoded(values)
    checked = compiled.checked_values(values, texts)
    assert checked is not None and checked.cleared.to_list() == [False]
    assert json.loads(texts.item())[where[0]].get(where[1]) is None


def test_encoded_values_with_a_null_member_inside_a_string_are_left_to_jsonschema(
    ours: dict[str, Any], synthetic_records: list[Record]
) -> None:
    """Text that only looks like a null member (escaped quotes in a string) is not cleared: the
    check is conservative, and jsonschema then finds the record valid."""
    record = copy.deepcopy(synthetic_records[0])
    record["ext"]["description"] = 'says ":null} and ":null, here'
    compiled = compile_schemas([ours])
    values = values_of([record], compiled.witness)
    texts = encoded(values)
    checked = compiled.checked_values(values, texts)
    assert checked is not None and checked.cleared.to_list() == [False]
    assert jsonschema_valid([ours], texts.item())


def test_values_of_another_type_are_not_checked(
    ours: dict[str, Any], synthetic_records: list[Record]
) -> None:
    compiled = compile_schemas([ours])
    values = values_of(synthetic_records[:2], compiled.witness)
    texts = encoded(values)
    assert (
        compiled.checked_values(
            values.with_columns(pl.col("followers_count").cast(pl.Float64)), texts
        )
        is None
    )
    assert compiled.checked_values(values.drop("ext"), texts) is None
    assert compiled.checked_values(values.select(reversed(values.columns)), texts) is None


# -- values not encoded yet: CompiledSchemas.checked_unencoded ----------------------------------


def field_names(dtype: pl.DataType) -> set[str]:
    """Every member name of a witness type, at any depth."""
    if isinstance(dtype, pl.Struct):
        return {f.name for f in dtype.fields}.union(*(field_names(f.dtype) for f in dtype.fields))
    if isinstance(dtype, pl.List):
        return field_names(dtype.inner)
    return set()


@pytest.mark.parametrize("omitted", ["every key", "the record's optional keys", "no key"])
def test_unencoded_values_are_cleared_as_their_texts_would_be(
    ours: dict[str, Any], synthetic_records: list[Record], omitted: str
) -> None:
    """Whatever keys the encoding leaves out when null: the verdict on the values alone is the
    verdict on the texts they make (checked_values, itself checked against jsonschema above)."""
    compiled = compile_schemas([ours])
    values = values_of(mutated_records(synthetic_records[:5], [ours]), compiled.witness)
    keys = {
        "every key": tuple(sorted(field_names(pl.Struct(compiled.witness)))),
        "the record's optional keys": transform.OMITTED_WHEN_NULL,
        "no key": (),
    }[omitted]
    text = pl.struct(pl.all()).struct.json_encode()
    texts = values.select(transform.without_null_keys(text, keys) if keys else text).to_series()
    by_texts = compiled.checked_values(values, texts)
    unencoded = compiled.checked_unencoded(values, keys)
    assert by_texts is not None and unencoded is not None
    assert unencoded.cleared.to_list() == by_texts.cleared.to_list()
    assert unencoded.decoded is values
    assert unencoded.cleared.any() == (omitted != "no key")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_unencoded_values_with_a_float_that_is_not_finite_are_not_cleared(
    ours: dict[str, Any], synthetic_records: list[Record], value: float
) -> None:
    record = copy.deepcopy(synthetic_records[0])
    record["ext"]["brand_confidence"] = value
    compiled = compile_schemas([ours])
    values = values_of([record], compiled.witness)
    unencoded = compiled.checked_unencoded(values, transform.OMITTED_WHEN_NULL)
    assert unencoded is not None and unencoded.cleared.to_list() == [False]
    assert compiled.checked_unencoded(values.drop("ext"), ()) is None


# -- the compiler's limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"anyOf": [{"type": "string"}]},
        {"patternProperties": {"^x": {"type": "string"}}},
        {"minProperties": 1},
        {"dependencies": {"id": ["handle"]}},
        {"$ref": "#/definitions/x"},
        {"not": {"required": ["id"]}},
        {"additionalProperties": {"type": "string"}},
        {"properties": {"id": {"type": "string", "format": "email"}}},
        {"properties": {"id": {"type": "string", "pattern": "^\\w+$"}}},
        {"properties": {"id": {"type": "string", "pattern": "(?=a)"}}},
        {"properties": {"id": {"type": ["string", "null"]}}},
        {"properties": {"id": {"type": "string", "multipleOf": 2}}},
        {"properties": {"id": {"type": "string", "minLenght": 2}}},
    ],
)
def test_an_unsupported_keyword_raises(extra: dict[str, Any]) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {"id": {"type": "string"}}}
    for key, value in extra.items():
        if key == "properties":
            schema["properties"] = value
        else:
            schema[key] = value
    with pytest.raises(UnsupportedSchema):
        compile_schemas([schema])


def test_an_unsupported_schema_is_validated_by_jsonschema_alone() -> None:
    schema = {
        "$id": "x",
        "type": "object",
        "properties": {"id": {"type": "string", "anyOf": [{"minLength": 2}]}},
    }
    documents = pl.DataFrame(
        {"id": ["1", "2"], "handle": ["a", "b"], "json": ['{"id":"ab"}', '{"id":"a"}']}
    )
    checked = validate.validated(documents, [validate.validator_for(schema)])
    assert checked.valid["id"].to_list() == ["1"]
    assert checked.invalid["id"].to_list() == ["2"]


def test_compiled_schemas_are_reused(ours: dict[str, Any]) -> None:
    validator = validate.validator_for(ours)
    first = validate.compiled_for([validator])
    assert isinstance(first, CompiledSchemas)
    assert validate.compiled_for([validate.validator_for(copy.deepcopy(ours))]) is first
