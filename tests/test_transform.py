from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from influx_etl import transform
from influx_etl.errors import ValidationError
from influx_etl.frames import AUTHORS_SCHEMA
from tests.factories import api_user, kept_frame, load_users

RUN_STARTED_AT = "2025-11-20T09:00:00Z"

# The documented canonical payload, spelled out independently of the module's constant.
DOCUMENTED_PROVENANCE_FIELDS = {
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
}


def python_provenance_hash(row: dict[str, Any]) -> str:
    payload = {name: row.get(name) for name in DOCUMENTED_PROVENANCE_FIELDS}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def records(kept: pl.DataFrame) -> pl.DataFrame:
    return transform.author_records(kept, RUN_STARTED_AT)


def one_record(**user_fields: Any) -> dict[str, Any]:
    return records(kept_frame([api_user(**user_fields)])).row(0, named=True)


def documents_of(authors: pl.DataFrame) -> list[dict[str, Any]]:
    scored = authors.with_columns(score=pl.lit(50.0), quality_score=pl.lit(25.0))
    return [json.loads(text) for text in transform.record_documents(scored)["json"]]


# -- author_records: shape and mapping ---------------------------------------------------------


def test_author_records_returns_authors_schema_without_scores() -> None:
    authors = records(kept_frame([api_user(), api_user(id="99", username="Other")]))
    expected = [name for name in AUTHORS_SCHEMA if name not in ("score", "quality_score")]
    assert authors.columns == expected
    assert all(authors.schema[name] == AUTHORS_SCHEMA[name] for name in expected)
    assert authors.height == 2


def test_empty_input_gives_empty_frame_with_the_schema() -> None:
    authors = records(kept_frame([]))
    assert authors.height == 0
    assert authors.schema == transform.AUTHOR_RECORDS_SCHEMA


def test_missing_input_column_is_named() -> None:
    kept = kept_frame([api_user()]).drop("seed_files")
    with pytest.raises(ValidationError, match="seed_files"):
        records(kept)


def test_wrong_column_type_is_named() -> None:
    kept = kept_frame([api_user()]).with_columns(pl.col("followers_count").cast(pl.String))
    with pytest.raises(ValidationError, match="followers_count"):
        records(kept)


@pytest.mark.parametrize(
    ("verified", "verified_type", "expected"),
    [
        (True, "blue", "blue"),
        (None, "blue", "blue"),
        (True, "business", "business"),
        (False, "business", "business"),
        (True, "government", "org"),
        (None, "government", "org"),
        (True, "none", "legacy"),
        (True, None, "legacy"),
        (False, "none", "none"),
        (False, None, "none"),
        (None, "none", "none"),
        (None, None, "none"),
    ],
)
def test_verified_enum(verified: bool | None, verified_type: str | None, expected: str) -> None:
    kept = kept_frame([api_user()]).with_columns(
        verified=pl.lit(verified, pl.Boolean), verified_type=pl.lit(verified_type, pl.String)
    )
    row = records(kept).row(0, named=True)
    assert row["verified"] == expected
    assert row["verified_type"] == verified_type


def test_legacy_verified_string_blue_maps_to_blue() -> None:
    assert one_record(verified="blue", verified_type=None)["verified"] == "blue"


def test_identity_and_rule_columns_are_carried() -> None:
    kept = kept_frame(
        [api_user(id="42", username="CanonicalCase", name="Ada")],
        is_org=True,
        is_official=True,
        passes_threshold=False,
        brand_matches=["media"],
        brand_confidence=0.4,
        risk_flags=["spam"],
        seed_files=["b.csv", "a.csv"],
    )
    row = records(kept).row(0, named=True)
    assert row["id"] == "42"
    assert row["handle"] == "CanonicalCase"
    assert row["name"] == "Ada"
    assert row["is_org"] is True
    assert row["is_official"] is True
    assert row["entry_threshold_passed"] is False
    assert row["brand_matches"] == ["media"]
    assert row["brand_confidence"] == pytest.approx(0.4)
    assert row["risk_flags"] == ["spam"]
    assert row["seed_files"] == ["b.csv", "a.csv"]
    assert row["followers_count"] == api_user()["public_metrics"]["followers_count"]


@pytest.mark.parametrize(
    ("origin", "method"),
    [
        ("x-api-v2", "x-api-v2"),
        ("recorded", "influx-api-sim:recorded"),
        ("synthetic", "influx-api-sim:synthetic"),
        ("prefetched", "prefetched-file"),
    ],
)
def test_source_method_from_origin(origin: str, method: str) -> None:
    row = records(kept_frame([api_user()], origin=origin)).row(0, named=True)
    assert [source["method"] for source in row["sources"]] == [method]
    assert row["origin"] == origin


def test_source_evidence_names_request_batch_and_seed_files() -> None:
    kept = kept_frame(
        [api_user(username="Ada_L")],
        batch_id=3,
        seed_files=["/lists/seeds/a.csv", "b.csv"],
    )
    (source,) = records(kept).row(0, named=True)["sources"]
    evidence = source["evidence"]
    assert "usernames=Ada_L" in evidence
    assert "batch 3" in evidence
    assert "seeds: a.csv, b.csv" in evidence
    assert "/lists/" not in evidence


def test_source_evidence_without_batch_or_seeds() -> None:
    kept = kept_frame([api_user(username="Ada_L")], batch_id=None, seed_files=[])
    (source,) = records(kept).row(0, named=True)["sources"]
    assert "usernames=Ada_L" in source["evidence"]
    assert "batch" not in source["evidence"]
    assert "seeds" not in source["evidence"]


def test_timestamps_are_utc_with_z() -> None:
    kept = kept_frame(
        [api_user(created_at="2012-03-04T05:06:07.000Z", pinned_tweet_id="7")],
        fetched_at="2025-11-20T12:30:00.123456+02:00",
        pinned_tweets={"7": "2025-11-01T14:33:22.000Z"},
    )
    row = records(kept).row(0, named=True)
    assert row["last_refresh_at"] == "2025-11-20T10:30:00Z"
    assert row["sources"][0]["fetched_at"] == row["last_refresh_at"]
    assert row["last_active_at"] == "2025-11-01T14:33:22Z"
    assert row["created_at"] == "2012-03-04T05:06:07Z"


def test_missing_fetched_at_falls_back_to_run_start() -> None:
    row = records(kept_frame([api_user()], fetched_at=None)).row(0, named=True)
    assert row["last_refresh_at"] == RUN_STARTED_AT
    assert row["sources"][0]["fetched_at"] == RUN_STARTED_AT


def test_unparseable_timestamp_is_kept_for_validation_to_report() -> None:
    row = records(kept_frame([api_user()], fetched_at="yesterday")).row(0, named=True)
    assert row["last_refresh_at"] == "yesterday"


def test_no_pinned_post_means_no_last_active_at() -> None:
    assert one_record()["last_active_at"] is None


# -- topic tags --------------------------------------------------------------------------------


def test_topic_tags_are_snake_case_sorted_unique() -> None:
    kept = kept_frame(
        [api_user()],
        categories=[
            "AI Infrastructure",
            "ai_infrastructure",
            "  VC & Investing ",
            "Security Researcher",
            "Café-Société",
            "ML/Ops",
            "",
            "---",
            "web3",
        ],
    )
    tags = records(kept).row(0, named=True)["topic_tags"]
    assert tags == [
        "ai_infrastructure",
        "cafe_societe",
        "ml_ops",
        "security_researcher",
        "vc_investing",
        "web3",
    ]


def test_topic_tags_keep_letters_of_other_scripts() -> None:
    kept = kept_frame([api_user()], categories=["人工智能", "Технологии", "मशीन लर्निंग"])
    tags = records(kept).row(0, named=True)["topic_tags"]
    assert tags == sorted(["технологии", "人工智能", "मशीन_लर्निंग"])


def test_no_categories_gives_empty_tags() -> None:
    kept = kept_frame([api_user()]).with_columns(categories=pl.lit(None, pl.List(pl.String)))
    assert records(kept).row(0, named=True)["topic_tags"] == []


# -- language heuristic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "description", "expected"),
    [
        ("Ada Lovelace", "Mathematician and writer.", "en"),
        ("Ana García", "Ingeniera de datos en Madrid", "en"),
        ("李开复", "创新工场董事长", "zh"),
        ("山田太郎", "東京でエンジニアをしています", "ja"),
        ("カタカナ", None, "ja"),
        ("김철수", "서울에서 개발자로 일합니다", "ko"),
        ("Иван", "Разработчик из Москвы", "ru"),
        ("محمد", "مطور برمجيات", "ar"),
        ("राहुल", "सॉफ्टवेयर इंजीनियर", "hi"),
        ("สมชาย", "นักพัฒนาซอฟต์แวร์", "th"),
        ("דוד", "מהנדס תוכנה", "he"),
        ("Γιώργος", "Μηχανικός λογισμικού", "el"),
        ("Builder 🚀", "Writing about AI. Привет", "en"),
        ("🚀🔥", "123 456", "en"),
        ("", None, "en"),
    ],
)
def test_lang_primary_from_dominant_script(
    name: str, description: str | None, expected: str
) -> None:
    assert one_record(name=name, description=description)["lang_primary"] == expected


# -- provenance hash ---------------------------------------------------------------------------


def test_provenance_fields_are_the_documented_ones_sorted() -> None:
    assert set(transform.PROVENANCE_FIELDS) == DOCUMENTED_PROVENANCE_FIELDS
    assert list(transform.PROVENANCE_FIELDS) == sorted(DOCUMENTED_PROVENANCE_FIELDS)


def test_provenance_hash_matches_python_for_all_real_users(shared_real_users: Path) -> None:
    kept = kept_frame(load_users(shared_real_users))
    descriptions = kept["description"].drop_nulls().to_list()
    # the data must exercise the escaping for the comparison to mean something
    assert any("\n" in text for text in descriptions)
    assert any(any(ord(char) > 0xFFFF for char in text) for text in descriptions)
    assert kept["location"].null_count() > 0

    authors = records(kept)
    expected = [python_provenance_hash(row) for row in kept.iter_rows(named=True)]
    assert authors["provenance_hash"].to_list() == expected
    assert authors["provenance_hash"].n_unique() == kept.height


@pytest.mark.parametrize(
    "description",
    [
        'quotes " and backslashes \\ and slash /',
        "new\nline, tab\t, carriage\r, formfeed\f, backspace\b",
        "control \x01\x1f and delete \x7f",
        "line separator \u2028 paragraph \u2029",
        "emoji 👩‍💻🏳️‍🌈 and astral 𝕏",
        "rtl עברית العربية mixed",
        "combining é vs é",
        "",
        None,
    ],
)
def test_provenance_hash_matches_python_for_tricky_strings(description: str | None) -> None:
    kept = kept_frame([api_user(description=description, location="Zürich\n🇨🇭")])
    row = kept.row(0, named=True)
    assert records(kept)["provenance_hash"].item() == python_provenance_hash(row)
    assert transform.provenance_hash(row) == python_provenance_hash(row)


def test_canonical_json_is_the_vectorised_payload(shared_real_users: Path) -> None:
    kept = kept_frame(load_users(shared_real_users))
    vectorised = kept.select(transform.provenance_payload()).to_series().to_list()
    assert vectorised == [transform.canonical_json(row) for row in kept.iter_rows(named=True)]


def test_provenance_hash_changes_with_any_looked_up_field() -> None:
    base = one_record()["provenance_hash"]
    assert one_record(description="Builds other things.")["provenance_hash"] != base
    assert one_record(location="Paris")["provenance_hash"] != base


def test_provenance_hash_ignores_run_context() -> None:
    first = records(kept_frame([api_user()], fetched_at="2025-01-01T00:00:00Z", batch_id=1))
    second = records(kept_frame([api_user()], fetched_at="2025-06-01T00:00:00Z", batch_id=9))
    assert first["provenance_hash"].item() == second["provenance_hash"].item()


# -- record documents --------------------------------------------------------------------------

TOP_KEYS = [
    "id",
    "handle",
    "name",
    "verified",
    "followers_count",
    "is_org",
    "is_official",
    "lang_primary",
    "topic_tags",
    "meta",
    "ext",
]


def test_document_key_order_and_content() -> None:
    kept = kept_frame(
        [
            api_user(
                pinned_tweet_id="7",
                location="Paris",
                url="https://t.co/x",
                profile_image_url="https://pbs.twimg.com/profile_images/1/x_normal.jpg",
            )
        ],
        pinned_tweets={"7": "2025-11-01T14:33:22.000Z"},
    )
    authors = records(kept)
    scored = authors.with_columns(
        score=pl.lit(50.0), quality_score=pl.lit(25.0), rank_global=pl.lit(1, pl.Int64)
    )
    (document,) = [json.loads(text) for text in transform.record_documents(scored)["json"]]
    assert list(document) == TOP_KEYS
    assert list(document["meta"]) == [
        "score",
        "quality_score",
        "rank_global",
        "last_refresh_at",
        "last_active_at",
        "sources",
        "provenance_hash",
        "entry_threshold_passed",
    ]
    assert list(document["ext"]) == [
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
    ]
    row = authors.row(0, named=True)
    assert document["meta"]["provenance_hash"] == row["provenance_hash"]
    assert document["meta"]["sources"] == row["sources"]
    assert document["ext"]["location"] == "Paris"
    assert document["meta"]["rank_global"] == 1


def test_document_frame_columns_follow_authors_order() -> None:
    authors = records(kept_frame([api_user(), api_user(id="99", username="Other")]))
    scored = authors.with_columns(score=pl.Series([1.0, 2.0]), quality_score=pl.lit(0.0))
    documents = transform.record_documents(scored)
    assert documents.schema == transform.DOCUMENT_COLUMNS
    assert documents["id"].to_list() == authors["id"].to_list()
    assert [json.loads(text)["id"] for text in documents["json"]] == authors["id"].to_list()


def test_null_optional_keys_are_omitted() -> None:
    user = api_user(description=None, public_metrics={"followers_count": 100_000})
    (document,) = documents_of(records(kept_frame([user])))
    assert "rank_global" not in document["meta"]
    assert "last_active_at" not in document["meta"]
    for absent in ("description", "location", "url", "tweet_count", "like_count"):
        assert absent not in document["ext"]
    assert document["ext"]["origin"] == "recorded"
    assert document["followers_count"] == 100_000


def test_empty_lists_are_written_not_omitted() -> None:
    (document,) = documents_of(records(kept_frame([api_user()], categories=[], seed_files=[])))
    assert document["topic_tags"] == []
    assert document["ext"]["seed_files"] == []


def test_required_null_keys_stay_for_validation_to_report() -> None:
    authors = records(kept_frame([api_user()])).with_columns(name=pl.lit(None, pl.String))
    (document,) = documents_of(authors)
    assert "name" in document
    assert document["name"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a":1,"url":null}', {"a": 1}),
        ('{"url":null,"a":1}', {"a": 1}),
        ('{"url":null}', {}),
        ('{"url":null,"location":null,"a":1,"description":null}', {"a": 1}),
        ('{"x":{"url":null,"location":null},"y":[{"url":null}]}', {"x": {}, "y": [{}]}),
        ('{"a":",\\"url\\":null","url":null}', {"a": ',"url":null'}),
        ('{"a":"{\\"url\\":null,","b":2}', {"a": '{"url":null,', "b": 2}),
        ('{"profile_image_url":"x","url":null}', {"profile_image_url": "x"}),
        ('{"name":null,"url":null}', {"name": None}),
        ('{"url":"null"}', {"url": "null"}),
    ],
)
def test_without_null_keys_keeps_json_valid(text: str, expected: dict[str, Any]) -> None:
    frame = pl.DataFrame({"text": [text]})
    result = frame.select(transform.without_null_keys(pl.col("text"))).item()
    assert json.loads(result) == expected


def test_omitted_keys_are_never_required_keys() -> None:
    assert not set(transform.OMITTED_WHEN_NULL) & set(TOP_KEYS)
    required_meta = {
        "score",
        "quality_score",
        "last_refresh_at",
        "sources",
        "provenance_hash",
        "entry_threshold_passed",
    }
    assert not set(transform.OMITTED_WHEN_NULL) & required_meta


def test_documents_keep_unicode_as_is(shared_real_users: Path) -> None:
    authors = records(kept_frame(load_users(shared_real_users)))
    documents = documents_of(authors)
    assert [document["name"] for document in documents] == authors["name"].to_list()
    assert [document["ext"].get("description") for document in documents] == authors[
        "description"
    ].to_list()


def test_composite_fields_close_ext_when_the_frame_has_them() -> None:
    authors = records(kept_frame([api_user()]))
    scored = authors.with_columns(
        score=pl.lit(50.0),
        quality_score=pl.lit(25.0),
        activity_score=pl.lit(12.5),
        relevance_score=pl.lit(50.0),
        composite_score=pl.lit(30.0),
        rank_topic=pl.lit(
            [{"topic": "tech_ceo", "rank": 3}],
            dtype=pl.List(pl.Struct({"topic": pl.String, "rank": pl.Int64})),
        ),
    )
    (document,) = [json.loads(text) for text in transform.record_documents(scored)["json"]]
    assert list(document["ext"])[-5:] == ["origin", *transform.SCORE_EXT_FIELDS]
    assert document["ext"]["rank_topic"] == [{"topic": "tech_ceo", "rank": 3}]
    assert document["ext"]["composite_score"] == 30.0
    (plain,) = documents_of(authors)
    assert not set(transform.SCORE_EXT_FIELDS) & set(plain["ext"])
