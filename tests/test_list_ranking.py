"""Ranking Lists by the dataset authors they hold, and their members by the Lists they share."""

from __future__ import annotations

import json

import polars as pl

from influx_etl import list_ranking


def memberships(rows: list[tuple[str, str, str, int, bool]]) -> pl.DataFrame:
    return list_ranking.memberships(
        pl.DataFrame(
            {
                "resource_id": [r[0] for r in rows],
                "item": [
                    json.dumps({"id": r[1], "name": r[2], "member_count": r[3], "private": r[4]})
                    for r in rows
                ],
            }
        )
    )


WORDS = list_ranking.topic_words(pl.Series([["ai_research"], ["science"], []]))


def test_topic_words_are_the_words_of_the_dataset_topics() -> None:
    assert sorted(WORDS.rows()) == [
        ("ai_research", "ai"),
        ("ai_research", "research"),
        ("science", "science"),
    ]


def test_lists_holding_more_of_ours_relative_to_size_rank_first() -> None:
    rows = []
    for author in ("a1", "a2", "a3"):
        rows.append((author, "small", "Good people", 30, False))  # 3 of ours in 30
    for author in ("a1", "a2", "a3", "a4"):
        rows.append((author, "huge", "Everyone", 5000, False))  # 4 of ours in 5,000
    for author in ("a1", "a2"):
        rows.append((author, "topical", "AI researchers", 40, False))  # 2 in 40, topical
        rows.append((author, "secret", "Private AI", 10, True))  # private: left out
        rows.append((author, "toobig", "AI everything", 6000, False))  # over the API maximum
    rows.append(("a1", "single", "Science one", 3, False))  # one of ours: left out
    ranked = list_ranking.ranked_lists(memberships(rows), WORDS)
    assert ranked["list_id"].to_list() == ["small", "topical", "huge"]
    assert ranked.filter(pl.col("list_id") == "topical")["topic"].to_list() == ["ai_research"]
    assert ranked["held"].to_list() == [3, 2, 4]


def test_lists_holding_one_author_are_used_when_no_other_is_left() -> None:
    ranked = list_ranking.ranked_lists(memberships([("a1", "one", "Science", 3, False)]), WORDS)
    assert ranked["list_id"].to_list() == ["one"]


def members(rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "resource_id": [r[0] for r in rows],
            "item": [
                json.dumps(
                    {"id": r[2], "username": r[1], "public_metrics": {"followers_count": r[3]}}
                )
                for r in rows
            ],
        }
    )


def test_candidates_are_members_not_in_the_dataset_ranked_by_lists_shared() -> None:
    chosen = pl.DataFrame(
        {
            "list_id": ["L1", "L2", "L3"],
            "name": ["AI researchers", "ML", None],
            "topic": ["ai_research", None, None],
        }
    )
    found = members(
        [
            ("L1", "Known", "1", 10),  # in the dataset by id
            ("L1", "Renamed", "99", 10),
            ("L1", "Twice", "2", 100),
            ("L2", "twice", "2", 100),
            ("L3", "Popular", "3", 90_000),
            ("L2", "Quiet", "4", 5),
            ("L1", "quiet", "4", 5),
            ("L2", "Loud", "5", 80_000),
            ("L9", "Elsewhere", "6", 1),  # a List not chosen
        ]
    )
    ranked = list_ranking.ranked_candidates(
        found, chosen, pl.Series(["1"]), pl.Series(["renamed"]), 1
    )
    assert ranked.select("handle", "shared_lists", "best_list", "topic").rows() == [
        # a tie on Lists shared and best List: more followers first
        ("Twice", 2, "L1", "ai_research"),
        ("quiet", 2, "L1", "ai_research"),
        ("Loud", 1, "L2", None),
        ("Popular", 1, "L3", None),
    ]
    twice = ranked.row(0, named=True)
    assert twice["note"] == 'https://x.com/i/lists/L1 "AI researchers"'
    assert twice["evidence"] == "https://x.com/i/lists/L1 https://x.com/i/lists/L2"
    at_least_two = list_ranking.ranked_candidates(
        found, chosen, pl.Series(["1"]), pl.Series([], dtype=pl.String), 2
    )
    assert at_least_two["handle"].to_list() == ["Twice", "quiet"]
