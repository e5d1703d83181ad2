"""Kept profiles -> dataset records.

Two stages:

* :func:`author_records` turns kept profiles (``PROFILES_SCHEMA`` + ``RULE_COLUMNS`` + the seed
  columns ``categories`` and ``seed_files``) into the flat author frame (``AUTHORS_SCHEMA`` without
  ``score``/``quality_score``, which :mod:`influx_etl.score` adds).
* :func:`record_documents` turns scored authors into the nested JSON text of each record, in the
  layout of the record schema and a stable key order.

Provenance hash
---------------
``meta.provenance_hash`` is the SHA-256 (lower-case hex) of the UTF-8 bytes of the *canonical JSON*
of the looked-up fields of the profile, so anyone holding the same API user object can recompute
it. The canonical JSON is the object with exactly the keys of :data:`PROVENANCE_FIELDS` (values as
they stand in the profiles frame, i.e. after flattening ``public_metrics`` and normalising
``verified: "blue"`` into ``verified_type``), keys sorted, absent values as ``null``, no
whitespace, non-ASCII characters written as themselves (not ``\\u`` escapes)::

    json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

:func:`canonical_json` and :func:`provenance_hash` are that reference implementation in plain
Python; :func:`provenance_payload` and :func:`provenance_hashes` compute the same vectorised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from influx_etl import memory_db, score
from influx_etl.errors import ValidationError
from influx_etl.frames import AUTHORS_SCHEMA, PROFILES_SCHEMA, RULE_COLUMNS

PROVENANCE_FIELDS: Final = (
    "created_at",
    "description",
    "followers_count",
    "following_count",
    "id",
    "like_count",
    "listed_count",
    "location",
    "media_count",
    "name",
    "pinned_tweet_id",
    "profile_image_url",
    "protected",
    "tweet_count",
    "url",
    "username",
    "verified",
    "verified_type",
)
"""The looked-up fields hashed into ``provenance_hash``, in canonical (sorted) order."""

AUTHOR_INPUT_SCHEMA: Final = pl.Schema(
    {
        **{
            name: PROFILES_SCHEMA[name]
            for name in (
                "batch_id",
                "origin",
                "fetched_at",
                "username",
                "pinned_tweet_created_at",
                *PROVENANCE_FIELDS,
            )
        },
        **{
            name: RULE_COLUMNS[name]
            for name in (
                "passes_threshold",
                "is_org",
                "is_official",
                "brand_matches",
                "brand_confidence",
                "risk_flags",
            )
        },
        "categories": pl.List(pl.String),
        "seed_files": pl.List(pl.String),
        "note": pl.String(),
    }
)
"""The columns :func:`author_records` reads (other columns are ignored; ``note``, the seed's,
may be missing)."""

AUTHOR_RECORDS_SCHEMA: Final = pl.Schema(
    {
        name: dtype
        for name, dtype in AUTHORS_SCHEMA.items()
        if name not in ("score", "quality_score")
    }
)
"""What :func:`author_records` returns: ``AUTHORS_SCHEMA`` before scoring."""

SOURCE_METHODS: Final = {
    "x-api-v2": "x-api-v2",
    "recorded": "influx-api-sim:recorded",
    "synthetic": "influx-api-sim:synthetic",
    "prefetched": "prefetched-file",
    "list-members": "x-api-v2:list-members",
    "recorded:list-members": "influx-api-sim:recorded:list-members",
    "synthetic:list-members": "influx-api-sim:synthetic:list-members",
}
"""``origin`` of a profile -> ``meta.sources[].method`` of its record."""

VERIFIED_TYPES: Final = {"blue": "blue", "business": "business", "government": "org"}
"""API ``verified_type`` -> record ``verified``; otherwise legacy ``verified`` true -> ``legacy``,
else ``none``."""

SCRIPT_LANGUAGES: Final = (
    ("Han", "zh"),
    ("Kana", "ja"),
    ("Hangul", "ko"),
    ("Cyrillic", "ru"),
    ("Arabic", "ar"),
    ("Devanagari", "hi"),
    ("Thai", "th"),
    ("Hebrew", "he"),
    ("Greek", "el"),
)
"""Writing script -> the ISO 639-1 code :func:`author_records` guesses for it (Latin -> ``en``)."""

DOCUMENT_COLUMNS: Final = pl.Schema(
    {
        "id": pl.String,
        "handle": pl.String,
        "score": pl.Float64,
        "followers_count": pl.Int64,
        "json": pl.String,
    }
)
"""What :func:`record_documents` returns: record JSON plus the keys to order and report it by."""

EXT_FIELDS: Final = (
    "verified_type",
    "following_count",
    "tweet_count",
    "listed_count",
    "like_count",
    "media_count",
    "created_at",
    "description",
    "location",
    "url",
    "profile_image_url",
    "seed_files",
    "brand_matches",
    "brand_confidence",
    "risk_flags",
    "origin",
)
"""The record's ``ext`` object, in key order: looked-up detail kept for analysis and rescoring."""

SCORE_EXT_DTYPES: Final = pl.Schema(
    {
        "activity_score": pl.Float64(),
        "relevance_score": pl.Float64(),
        "composite_score": pl.Float64(),
        "rank_topic": score.RANK_TOPIC_DTYPE,
    }
)
"""The types of the :data:`SCORE_EXT_FIELDS` (:func:`influx_etl.score.rescored` makes them)."""
SCORE_EXT_FIELDS: Final = tuple(SCORE_EXT_DTYPES)
"""Appended to ``ext`` when the frame has them (:func:`influx_etl.score.rescored` adds them): the
composite score, its computed components and the per-topic ranks. They depend on the whole dataset
and the scoring weights, so they are computed at export, not stored."""

OMITTED_WHEN_NULL: Final = ("rank_global", "last_active_at", *EXT_FIELDS, *SCORE_EXT_FIELDS)
"""Optional record keys that are left out of the JSON when their value is null (the schemas type
them as string/integer/..., so ``null`` would be invalid). Required keys are written even when null,
so that validation reports them instead of them silently disappearing."""

_TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.f%#z"
_UTC_OUTPUT_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


def canonical_json(user: Mapping[str, Any]) -> str:
    """The canonical JSON text hashed into ``provenance_hash`` (reference implementation).

    ``user`` holds the looked-up fields as in the profiles frame; keys outside
    :data:`PROVENANCE_FIELDS` are ignored and missing ones are written as ``null``.
    """
    payload = {name: user.get(name) for name in PROVENANCE_FIELDS}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def provenance_hash(user: Mapping[str, Any]) -> str:
    """SHA-256 hex of :func:`canonical_json` (reference implementation of the vectorised hash)."""
    return hashlib.sha256(canonical_json(user).encode("utf-8")).hexdigest()


def provenance_payload() -> pl.Expr:
    """Vectorised :func:`canonical_json`: a String expression over the profile columns.

    Polars writes struct fields in their order, so the struct is built in sorted key order; its
    JSON encoder escapes exactly like ``json.dumps(..., ensure_ascii=False)`` (tested).
    """
    return pl.struct([pl.col(name) for name in PROVENANCE_FIELDS]).struct.json_encode()


def provenance_hashes(payloads: pl.Series) -> pl.Series:
    """SHA-256 lower-case hex of each string's UTF-8 bytes, computed in DuckDB.

    Polars has no SHA-256; DuckDB keeps it a set operation, without a per-row Python loop (on
    one thread, a ``hashlib`` loop is faster: docs/performance.md). The database is the
    process's (:mod:`influx_etl.memory_db`): opening one per call cost time.
    """
    frame = pl.DataFrame({"payload": payloads.cast(pl.String)}).with_row_index("row")
    with memory_db.cursor() as connection:
        connection.register("payloads", frame)
        digests: pl.DataFrame = connection.sql(
            "select sha256(payload) as digest from payloads order by row"
        ).pl()
    return digests.get_column("digest").rename("provenance_hash")


def utc_timestamp(column: pl.Expr) -> pl.Expr:
    """ISO-8601 text with any offset -> ``YYYY-MM-DDTHH:MM:SSZ`` in UTC.

    Text that does not parse is kept as it is, so that schema validation reports it rather than
    it vanishing here.
    """
    parsed = column.str.to_datetime(format=_TIMESTAMP_FORMAT, time_zone="UTC", strict=False)
    return pl.coalesce(parsed.dt.to_string(_UTC_OUTPUT_FORMAT), column)


def record_verified() -> pl.Expr:
    """The record's ``verified`` enum from the API's ``verified_type`` and legacy ``verified``."""
    legacy = pl.when(pl.col("verified").fill_null(False)).then(pl.lit("legacy"))
    return pl.coalesce(
        pl.col("verified_type").replace_strict(
            VERIFIED_TYPES, default=None, return_dtype=pl.String
        ),
        legacy,
        pl.lit("none"),
    )


def topic_tag(text: pl.Expr) -> pl.Expr:
    """One category -> lower snake_case: ``"AI Infrastructure"`` -> ``"ai_infrastructure"``.

    Accents on Latin letters are dropped (``Café`` -> ``cafe``); letters (with their vowel signs)
    of other scripts are kept; every run of other characters becomes one ``_``; leading/trailing
    ``_`` are removed.
    """
    return (
        text.str.normalize("NFKD")
        .str.replace_all(r"(\p{Latin})\p{M}+", "${1}")
        .str.normalize("NFC")
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{M}\p{N}]+", "_")
        .str.strip_chars("_")
    )


def topic_tags(categories: pl.Expr) -> pl.Expr:
    """Categories -> sorted unique non-empty tags (an empty list when there are none)."""
    tag = topic_tag(pl.element())
    return (
        categories.list.eval(tag.filter(tag.str.len_chars() > 0))
        .list.unique()
        .list.sort()
        .fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )


def primary_language(text: pl.Expr) -> pl.Expr:
    """Heuristic ISO 639-1 language of a text from its dominant writing script.

    The user lookup returns no language, yet the schema requires ``lang_primary``. Letters are
    counted per script; the script with most letters wins: Latin -> ``en``, Han -> ``zh``, Kana
    (Hiragana/Katakana; Han letters next to them count as Japanese) -> ``ja``, Hangul -> ``ko``,
    Cyrillic -> ``ru``, Arabic -> ``ar``, Devanagari -> ``hi``, Thai -> ``th``, Hebrew -> ``he``,
    Greek -> ``el``. No letters at all -> ``en``. It cannot tell languages sharing a script apart
    (Spanish, Ukrainian, Persian, Marathi... get the script's main language).
    """
    text = text.fill_null("")
    # ASCII text has Latin letters or none: "en" either way. Blanking it spares the script
    # counts below on most texts.
    text = pl.when(text.str.contains(r"[^\x00-\x7F]")).then(text).otherwise(pl.lit(""))
    kana = text.str.count_matches(r"[\p{Hiragana}\p{Katakana}]")
    han = text.str.count_matches(r"\p{Han}")
    counts: dict[str, pl.Expr] = {
        "Latin": text.str.count_matches(r"\p{Latin}"),
        "Han": pl.when(kana > 0).then(0).otherwise(han),
        "Kana": pl.when(kana > 0).then(kana + han).otherwise(0),
    }
    for script, _ in SCRIPT_LANGUAGES:
        counts.setdefault(script, text.str.count_matches(rf"\p{{{script}}}"))
    # The first script with the most letters, in this order (Latin first: no letters -> "en").
    # One list and its arg_max count each script once; comparing every count with their maximum
    # would count them once per comparison (eager frames do not share subexpressions).
    ordered = (("Latin", "en"), *SCRIPT_LANGUAGES)
    most = pl.concat_list([counts[script].cast(pl.Int64) for script, _ in ordered]).list.arg_max()
    return most.replace_strict(
        list(range(len(ordered))), [code for _, code in ordered], return_dtype=pl.String
    )


def primary_languages(texts: pl.Series) -> pl.Series:
    """:func:`primary_language` of each text, ``lang_primary``.

    Only texts with a non-ASCII character can be anything but ``en``, and they are few: the
    script counts run on those alone and the rest are ``en``. On the whole column, even blanked,
    the twelve counts and their list cost far more (each count re-evaluates the blanking: eager
    frames share no subexpressions; docs/performance.md).
    """
    texts = texts.cast(pl.String)
    non_ascii = texts.str.contains(r"[^\x00-\x7F]").fill_null(False)
    languages = pl.repeat("en", texts.len(), dtype=pl.String, eager=True)
    if non_ascii.any():
        scripts = texts.filter(non_ascii).to_frame("text").select(primary_language(pl.col("text")))
        languages = languages.scatter(non_ascii.arg_true(), scripts.to_series())
    return languages.rename("lang_primary")


def _source_evidence() -> pl.Expr:
    """``GET /2/users/by usernames=<handle> (batch 3); seeds: a.csv, b.csv``; a List member's:
    ``GET /2/lists/:id/members <List URL and name> username=<handle> (batch 3); seeds: x-list:ID``.
    """
    origin = pl.col("origin")
    request = (
        pl.when(origin == "prefetched")
        .then(pl.lit("prefetched user object username="))
        .when(origin.str.ends_with("list-members"))
        .then(
            pl.concat_str(
                [
                    pl.lit("GET /2/lists/:id/members "),
                    pl.col("note").fill_null(""),
                    pl.lit(" username="),
                ]
            )
        )
        .otherwise(pl.lit("GET /2/users/by usernames="))
    )
    batch = pl.lit(" (batch ") + pl.col("batch_id").cast(pl.String) + pl.lit(")")
    seed_names = (
        pl.col("seed_files").list.eval(pl.element().str.extract(r"([^/\\]+)$", 1)).list.join(", ")
    )
    seeds = pl.when(pl.col("seed_files").list.len() > 0).then(pl.lit("; seeds: ") + seed_names)
    return pl.concat_str([request, pl.col("username"), batch, seeds], ignore_nulls=True)


def _conformed(kept: pl.DataFrame) -> pl.DataFrame:
    """The input columns with their contract dtypes; all-null (``Null``) columns are cast."""
    if "note" not in kept.columns:
        kept = kept.with_columns(pl.lit(None, pl.String).alias("note"))
    missing = [name for name in AUTHOR_INPUT_SCHEMA if name not in kept.columns]
    if missing:
        raise ValidationError(
            f"kept profiles lack column(s) {', '.join(missing)}; author_records needs "
            f"{', '.join(AUTHOR_INPUT_SCHEMA)}"
        )
    wrong = [
        f"{name} is {kept.schema[name]}, expected {dtype}"
        for name, dtype in AUTHOR_INPUT_SCHEMA.items()
        if kept.schema[name] not in (dtype, pl.Null)
    ]
    if wrong:
        raise ValidationError(f"kept profiles have wrong column types: {'; '.join(wrong)}")
    return kept.select([pl.col(name).cast(dtype) for name, dtype in AUTHOR_INPUT_SCHEMA.items()])


def author_records(kept: pl.DataFrame, run_started_at: str) -> pl.DataFrame:
    """Kept profiles -> the flat author frame (``AUTHORS_SCHEMA`` minus the scores).

    ``kept`` has one row per found profile the rules kept, with at least the columns of
    :data:`AUTHOR_INPUT_SCHEMA`. ``run_started_at`` (ISO-8601) stands in for ``fetched_at`` when a
    profile has none (a prefetched file may not say when it was fetched).

    Mapping: ``handle`` is the canonical ``username``; ``verified`` see :func:`record_verified`;
    ``topic_tags`` see :func:`topic_tags`; ``lang_primary`` is a *heuristic* from the script of name
    and bio (:func:`primary_language`); ``sources`` is one ``{method, fetched_at, evidence}``;
    ``last_refresh_at`` is ``fetched_at``; ``last_active_at`` is the pinned post's ``created_at``
    (the only activity signal, null without one); ``entry_threshold_passed`` is
    ``passes_threshold``; ``provenance_hash`` see the module docstring. Timestamps become UTC with
    ``Z`` (:func:`utc_timestamp`).
    """
    profiles = _conformed(kept)
    fetched_at = pl.coalesce(
        utc_timestamp(pl.col("fetched_at")), utc_timestamp(pl.lit(run_started_at, pl.String))
    )
    source = pl.struct(
        method=pl.col("origin").replace_strict(
            SOURCE_METHODS, default=None, return_dtype=pl.String
        ),
        fetched_at=fetched_at,
        evidence=_source_evidence(),
    )
    records = profiles.with_columns(
        handle=pl.col("username"),
        verified=record_verified(),
        lang_primary=primary_languages(
            profiles.select(
                pl.concat_str(
                    [pl.col("name"), pl.col("description")], separator=" ", ignore_nulls=True
                )
            ).to_series()
        ),
        topic_tags=topic_tags(pl.col("categories")),
        sources=pl.concat_list(source),
        provenance_payload=provenance_payload(),
        last_refresh_at=fetched_at,
        last_active_at=utc_timestamp(pl.col("pinned_tweet_created_at")),
        entry_threshold_passed=pl.col("passes_threshold"),
        created_at=utc_timestamp(pl.col("created_at")),
    )
    records = records.with_columns(provenance_hashes(records.get_column("provenance_payload")))
    return records.select(
        [pl.col(name).cast(dtype) for name, dtype in AUTHOR_RECORDS_SCHEMA.items()]
    )


def _document_struct(authors: pl.DataFrame) -> pl.Expr:
    rank = pl.col("rank_global") if "rank_global" in authors.columns else pl.lit(None, pl.Int64)
    meta = pl.struct(
        pl.col("score"),
        pl.col("quality_score"),
        rank.cast(pl.Int64).alias("rank_global"),
        pl.col("last_refresh_at"),
        pl.col("last_active_at"),
        pl.col("sources"),
        pl.col("provenance_hash"),
        pl.col("entry_threshold_passed"),
    ).alias("meta")
    # typed nulls: the record struct keeps the schema's types whether or not the authors were
    # rescored, so the compiled schemas can check it as it is (CompiledSchemas.checked_values)
    computed = [
        pl.col(name) if name in authors.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in SCORE_EXT_DTYPES.items()
    ]
    ext = pl.struct([*(pl.col(name) for name in EXT_FIELDS), *computed]).alias("ext")
    return pl.struct(
        pl.col("id"),
        pl.col("handle"),
        pl.col("name"),
        pl.col("verified"),
        pl.col("followers_count"),
        pl.col("is_org"),
        pl.col("is_official"),
        pl.col("lang_primary"),
        pl.col("topic_tags"),
        meta,
        ext,
    )


def without_null_keys(encoded: pl.Expr, keys: tuple[str, ...] = OMITTED_WHEN_NULL) -> pl.Expr:
    """Remove ``"key":null`` members of ``keys`` from JSON text, keeping it valid JSON.

    Safe on any JSON text: inside a JSON string every ``"`` is written ``\\"``, so ``,"key":null``
    and ``{"key":null`` (a quote right after a comma or brace) only occur as object members. After
    ``null`` the JSON grammar allows only ``,`` or ``}``, so no look-ahead is needed. Members after
    a comma go first; then a null first member loses its trailing comma (``{"k":null,`` -> ``{``),
    which also covers an object whose members were all null (``{"k":null}`` -> ``{}``).
    """
    names = "|".join(keys)
    return encoded.str.replace_all(rf',"(?:{names})":null', "").str.replace_all(
        rf'\{{"(?:{names})":null,?', "{"
    )


RECORD_COLUMN: Final = "record"
"""The struct column :func:`record_documents` adds with ``record=True``."""


def record_text(record: pl.Expr) -> pl.Expr:
    """The JSON text of a record struct (:data:`RECORD_COLUMN`): compact, with the null members
    of :data:`OMITTED_WHEN_NULL` left out."""
    return without_null_keys(record.struct.json_encode())


def record_documents(
    authors: pl.DataFrame, *, record: bool = False, text: bool = True
) -> pl.DataFrame:
    """Scored authors -> one JSON record each (frame of :data:`DOCUMENT_COLUMNS`, same row order).

    Key order: ``id, handle, name, verified, followers_count, is_org, is_official, lang_primary,
    topic_tags, meta{score, quality_score, rank_global, last_refresh_at, last_active_at, sources,
    provenance_hash, entry_threshold_passed}, ext{verified_type, following_count, tweet_count,
    listed_count, like_count, media_count, created_at, description, location, url,
    profile_image_url, seed_files, brand_matches, brand_confidence, risk_flags, origin,
    activity_score, relevance_score, composite_score, rank_topic}``.
    ``rank_global`` and the :data:`SCORE_EXT_FIELDS` are written when the frame has them (see
    :func:`influx_etl.score.rescored`). Keys of :data:`OMITTED_WHEN_NULL` are left out when null.

    ``record``: also the :data:`RECORD_COLUMN` column, the struct each ``json`` text is the
    ``struct.json_encode()`` of (with null members of those keys removed, nothing else), which
    :func:`influx_etl.validate.validated` then checks instead of decoding the text. Without
    ``text`` (and with ``record``), no ``json`` column: the texts are not made at all (a run
    validates its kept authors so, and :func:`influx_etl.validate.validated` renders only the
    records it must show to jsonschema; the export writes the texts).
    """
    if not (text or record):
        raise ValueError("record_documents: text=False needs record=True")
    missing = [name for name in AUTHORS_SCHEMA if name not in authors.columns]
    if missing:
        raise ValidationError(f"authors lack column(s) {', '.join(missing)} (see AUTHORS_SCHEMA)")
    keys = [
        pl.col("id"),
        pl.col("handle"),
        pl.col("score").cast(pl.Float64),
        pl.col("followers_count").cast(pl.Int64),
    ]
    struct = _document_struct(authors)
    if not record:
        return authors.select(*keys, record_text(struct).alias("json"))
    documents = authors.select(*keys, struct.alias(RECORD_COLUMN))
    if not text:
        return documents
    return documents.with_columns(record_text(pl.col(RECORD_COLUMN)).alias("json")).select(
        *DOCUMENT_COLUMNS, RECORD_COLUMN
    )
