"""Text helpers of the rules: links in bios, keyword scans, and the cheap tests that pick rows."""

from __future__ import annotations

import polars as pl
import pytest

from influx_etl.rules._text import (
    BIO_LINK,
    bio_links,
    contains_literal,
    keyword_matches,
    may_name,
    name_haystack,
    name_prefilter_literals,
    shadowable_keywords,
    unique_in_order,
)


def _one(expr: pl.Expr, **columns: list[object]) -> list[object]:
    return pl.DataFrame(columns).select(expr.alias("out"))["out"].to_list()


def test_bio_links_are_urls_and_bare_domains_but_not_addresses_or_file_names() -> None:
    bio = (
        "Writing at platformer.news | DM or mail me at jason@hey.com. Slides: bit.ly/talk). "
        "Built with Next.js, see README.md; find me @ada@mastodon.social or https://t.co/AbC "
        "and www.Example.org/about."
    )
    (links,) = _one(bio_links(pl.col("bio").str.to_lowercase()), bio=[bio])
    assert links == [
        "platformer.news",
        "bit.ly/talk).",
        "https://t.co/abc",
        "www.example.org/about.",
    ]


@pytest.mark.parametrize("bio", ["Ph.D. in physics, U.S. based, e.g. robots", "", None])
def test_a_bio_without_links(bio: str | None) -> None:
    (links,) = _one(
        bio_links(pl.col("bio").str.to_lowercase()), bio=pl.Series([bio], dtype=pl.String)
    )
    assert links in ([], None)


def test_substring_keywords_are_all_found_even_when_they_overlap() -> None:
    named = [
        ("org:company news", "company news"),
        ("media:news outlet", "news outlet"),
        ("spam:dm for", "dm for"),
        ("scam:dm for money", "dm for money"),
    ]
    expr = unique_in_order(keyword_matches(pl.col("t"), named, word_boundaries=False))
    (found,) = _one(expr, t=["the company news outlet. dm for money"])
    assert set(found) == {name for name, _ in named}


def test_word_keywords_that_overlap_get_a_test_of_their_own() -> None:
    named = [("a", "google cloud"), ("b", "cloud flare"), ("c", "cloud")]
    assert shadowable_keywords([k for _, k in named], word_boundaries=True) == {"cloud flare"}
    expr = unique_in_order(keyword_matches(pl.col("t"), named, word_boundaries=True))
    (found,) = _one(expr, t=["google cloud flare"])
    assert set(found) == {"a", "b", "c"}


def test_word_boundaries_make_most_overlaps_impossible() -> None:
    # "news" then "store" would need "newstore", where neither is a word
    assert shadowable_keywords(["news", "store", "shop", "shopping"], word_boundaries=True) == set()
    assert shadowable_keywords(["news", "store"], word_boundaries=False) == {"store"}


def test_prefilter_literals_cover_the_ways_a_username_runs_words_together() -> None:
    literals = name_prefilter_literals(["Hugging Face", "team"])
    assert {"hugging face", "huggingface", "hugging_face", "team"} <= set(literals)


@pytest.mark.parametrize(
    ("name", "username", "keyword"),
    [
        ("Acme", "HuggingFaceFan", "hugging face"),
        ("Acme", "Hugging_Face_HQ", "hugging face"),
        ("Acme", "gpt4_news", "gpt 4 news"),
        ("ACME SUPPORT", "x", "support"),
        ("Kelvin \u212aaggle", "x", "kaggle"),  # the Kelvin sign lower-cases to "k"
        ("ÉQUIPE OFFICIELLE", "x", "équipe"),  # a keyword with a cased non-ASCII letter
        ("某某科技官方账号", "x", "官方"),
    ],
)
def test_the_cheap_name_test_never_misses_what_the_haystack_matches(
    name: str, username: str, keyword: str
) -> None:
    haystack = name_haystack(pl.col("name"), pl.col("username"))
    matched = keyword_matches(haystack, [("k", keyword)], word_boundaries=True).list.len() > 0
    prefilter = may_name(
        pl.col("name").str.to_lowercase(),
        pl.col("username").str.to_lowercase(),
        name_prefilter_literals([keyword]),
    )
    out = pl.DataFrame({"name": [name], "username": [username]}).select(
        matched.alias("matched"), prefilter.alias("prefilter")
    )
    assert out.row(0) == (True, True)


def test_the_cheap_name_test_lets_most_names_through_untouched() -> None:
    prefilter = may_name(
        pl.col("name").str.to_lowercase(),
        pl.col("username").str.to_lowercase(),
        name_prefilter_literals(["team"]),
    )
    out = pl.DataFrame({"name": ["Ada Lovelace", "Jane"], "username": ["ada", "jane_doe"]})
    assert out.select(prefilter)["name"].to_list() == [False, False]


@pytest.mark.parametrize(
    "bio",
    [
        "🚀 see hey.com, a.b.io/x and @me",  # an emoji: no word character, ASCII boundary
        "ébc.com and café.io",  # a letter before the domain: no boundary there
        "中文abc.org 中文 abc.org",
        "x\u0301y.com kelvin\u212a.io",
        "plain ascii.com/path",
    ],
)
def test_bio_links_find_what_the_unicode_boundary_finds(bio: str) -> None:
    # the ASCII boundary is used where it cannot differ from the Unicode one
    (unicode_tokens,) = _one(pl.col("bio").str.extract_all(BIO_LINK), bio=[bio])
    (links,) = _one(bio_links(pl.col("bio")), bio=[bio])
    assert links == [token for token in unicode_tokens if "@" not in token]


def test_literal_scans_agree_past_the_aho_corasick_dfa_limit() -> None:
    literals = [f"kw{index}x" for index in range(150)] + ["hugging face", "a.b"]
    texts = ["has kw149x here", "hugging face", "aXb", "a.b", "kw15", None]
    scanned = _one(contains_literal(pl.col("t"), literals), t=texts)
    assert scanned == [True, True, False, True, False, None]
    assert scanned[:3] == _one(pl.col("t").str.contains_any(literals), t=texts)[:3]
