from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import polars as pl
import pytest

from influx_etl.errors import SeedError
from influx_etl.frames import SEED_REJECTS_SCHEMA, SEEDS_SCHEMA
from influx_etl.seeds import SeedLoad, load_seeds, seed_paths

HEADER = "handle,category,source,note\n"


def write(directory: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` byte for byte (no newline translation), so CRLF stays CRLF."""
    path = directory / name
    path.write_bytes(text.encode(encoding))
    return path


def rows_by_handle(load: SeedLoad) -> dict[str, dict[str, object]]:
    return {row["handle"]: row for row in load.frame.iter_rows(named=True)}


def reject_rows(load: SeedLoad) -> list[tuple[str, int, str]]:
    return [
        (r["seed_file"], r["line"], r["raw_handle"]) for r in load.rejects.iter_rows(named=True)
    ]


# --- seed_paths ---------------------------------------------------------------------------------


def test_seed_paths_lists_csv_and_txt_sorted_by_name(tmp_path: Path) -> None:
    for name in ("b.txt", "a.csv", "c.csv", "notes.md", "data.json"):
        write(tmp_path, name, "")
    (tmp_path / "sub.csv").mkdir()

    assert [path.name for path in seed_paths(tmp_path)] == ["a.csv", "b.txt", "c.csv"]


def test_seed_paths_missing_folder_is_a_seed_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    with pytest.raises(SeedError, match="does not exist") as caught:
        seed_paths(missing)
    assert caught.value.file == str(missing)


# --- csv layouts --------------------------------------------------------------------------------


def test_basic_csv_gives_the_contract_schemas(tmp_path: Path) -> None:
    path = write(tmp_path, "seeds.csv", HEADER + "karpathy,ai_research,curated,AI educator\n")

    load = load_seeds([path])

    assert load.frame.schema == SEEDS_SCHEMA
    assert load.rejects.schema == SEED_REJECTS_SCHEMA
    assert load.rows_read == 1
    assert load.frame.to_dicts() == [
        {
            "handle": "karpathy",
            "handle_key": "karpathy",
            "category": "ai_research",
            "source": "curated",
            "note": "AI educator",
            "seed_file": "seeds.csv",
            "line": 2,
            "seed_files": ["seeds.csv"],
            "categories": ["ai_research"],
        }
    ]


def test_source_url_and_extra_evidence_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "creator.csv",
        "handle,category,source_url,evidence,note\n"
        "mkbhd,tech_youtube,https://www.youtube.com/mkbhd,https://twitter.com/MKBHD,Reviewer\n",
    )

    row = load_seeds([path]).frame.row(0, named=True)

    assert row["source"] == "https://www.youtube.com/mkbhd"
    assert row["note"] == "Reviewer"


def test_org_name_is_the_handle_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orgs.csv",
        "org_name,category,source_url,note\nopenai,ai_research,https://github.com/openai,Team\n",
    )

    row = load_seeds([path]).frame.row(0, named=True)

    assert (row["handle"], row["category"], row["source"]) == (
        "openai",
        "ai_research",
        "https://github.com/openai",
    )


def test_header_without_note_column(tmp_path: Path) -> None:
    path = write(tmp_path, "m09.csv", "handle,category,source_url\nsama,AI,https://openai.com\n")

    row = load_seeds([path]).frame.row(0, named=True)

    assert (row["category"], row["source"], row["note"]) == ("AI", "https://openai.com", None)


def test_header_names_are_trimmed_and_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "Handle , CATEGORY,Source,Note\nsama,ai,curated,CEO\n")

    assert load_seeds([path]).frame.select("handle", "category").row(0) == ("sama", "ai")


def test_crlf_no_trailing_newline_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "crlf.csv",
        "handle,category,source,note\r\n\r\nalpha,a,s,first\r\n   \r\nbad-one\r\nbeta,b,s,last",
    )

    load = load_seeds([path])

    assert load.rows_read == 3
    assert reject_rows(load) == [("crlf.csv", 5, "bad-one")]
    assert load.frame.select("handle", "line", "note").rows() == [
        ("alpha", 3, "first"),
        ("beta", 6, "last"),
    ]


def test_missing_trailing_fields_are_null(tmp_path: Path) -> None:
    path = write(tmp_path, "ragged.csv", HEADER + "alpha,ai\nbeta\ngamma,,,\n")

    load = load_seeds([path])

    assert load.frame.select("handle", "category", "source", "note").rows() == [
        ("alpha", "ai", None, None),
        ("beta", None, None, None),
        ("gamma", None, None, None),
    ]
    assert load.frame["categories"].to_list() == [["ai"], [], []]


def test_overflow_commas_are_joined_back_into_the_last_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "overflow.csv",
        HEADER + "eric_topol,healthtech,digital_health,Cardiologist, digital health, researcher\n",
    )

    load = load_seeds([path])

    assert load.frame["note"].to_list() == ["Cardiologist, digital health, researcher"]
    assert load.frame["source"].to_list() == ["digital_health"]


def test_overflow_into_a_last_column_that_is_not_note(tmp_path: Path) -> None:
    path = write(tmp_path, "m09.csv", "handle,category,source_url\nsama,AI,a,b\n")

    assert load_seeds([path]).frame["source"].to_list() == ["a,b"]


def test_quoted_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "quoted.csv",
        HEADER
        + '"alpha","ai, ml",curated,"He said ""hi"", then left"\n'
        + 'beta,,"src,with,commas",plain\n',
    )

    load = load_seeds([path])

    assert load.frame.select("handle", "category", "source", "note").rows() == [
        ("alpha", "ai, ml", "curated", 'He said "hi", then left'),
        ("beta", None, "src,with,commas", "plain"),
    ]


def test_utf8_bom_at_file_start(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", "\ufeff" + HEADER + "alpha,ai,s,Markbåge\n")

    load = load_seeds([path])

    assert load.frame.select("handle", "note").rows() == [("alpha", "Markbåge")]


def test_header_without_handle_column_is_a_seed_error(tmp_path: Path) -> None:
    path = write(tmp_path, "nohandle.csv", "\nname,category\nalpha,ai\n")

    with pytest.raises(SeedError) as caught:
        load_seeds([path])

    error = caught.value
    assert error.file == str(path)
    assert error.line == 2
    assert "name,category" in str(error)
    assert "'handle'" in str(error)
    assert "'org_name'" in str(error)


def test_a_non_utf8_file_is_refused_with_its_offset_and_the_others_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = HEADER + "alpha,ai,s,ok\nbeta,ai,s,Ualá\n"
    path = write(tmp_path, "latin1.csv", text, "latin-1")
    good = write(tmp_path, "good.csv", HEADER + "gamma,ai,s,ok\n")

    with caplog.at_level(logging.ERROR, logger="influx_etl.seeds"):
        load = load_seeds([path, good])

    assert load.frame["handle"].to_list() == ["gamma"]
    assert load.files["name"].to_list() == ["good.csv"]  # the refused file stays pending
    ((name, refused_path, reason),) = load.refused.rows()
    assert (name, refused_path) == ("latin1.csv", str(path))
    offset = text.encode("latin-1").index("á".encode("latin-1"))
    assert f"byte 0xe1 at byte offset {offset}" in reason
    assert f"{path}:3:" in reason
    assert f"iconv -f LATIN1 -t UTF-8 {path} > {path}.utf8" in reason
    assert [r.getMessage() for r in caplog.records] == [reason]


def test_the_conversion_command_quotes_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "my seeds.txt", "caf\xe9\n", "latin-1")

    (reason,) = load_seeds([path]).refused["reason"]

    assert f"iconv -f LATIN1 -t UTF-8 '{path}' > '{path}.utf8'" in reason


@pytest.mark.parametrize("column", ["username", "screen_name", "Screen_Name"])
def test_username_and_screen_name_columns_are_handle_columns(tmp_path: Path, column: str) -> None:
    path = write(tmp_path, "twarc.csv", f"id,{column},name\n12,jack,Jack\n13,@Ev,Ev\n")

    load = load_seeds([path])

    assert load.frame["handle"].to_list() == ["jack", "Ev"]
    assert load.rejects.is_empty()


@pytest.mark.shared
def test_real_seed_files_go_on_beside_a_latin1_one(shared_seeds_dir: Path, tmp_path: Path) -> None:
    real = seed_paths(shared_seeds_dir)
    bad = write(tmp_path, "zz-latin1.csv", HEADER + "caf\xe9_owner,food,s,Caf\xe9\n", "latin-1")

    load = load_seeds([*real, bad])
    alone = load_seeds(real)

    assert load.frame.equals(alone.frame) and load.rows_read == alone.rows_read
    assert load.refused["seed_file"].to_list() == ["zz-latin1.csv"]
    assert alone.refused.is_empty()


def test_unreadable_or_unsupported_files_are_seed_errors(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read") as caught:
        load_seeds([tmp_path / "gone.csv"])
    assert caught.value.file == str(tmp_path / "gone.csv")

    other = write(tmp_path, "seeds.json", "[]")
    with pytest.raises(SeedError, match=r"expected one of \.csv, \.txt"):
        load_seeds([other])


def test_empty_csv_has_no_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.csv", "\n\n")

    load = load_seeds([path])

    assert (load.rows_read, load.frame.height, load.rejects.height) == (0, 0, 0)


def test_no_paths_gives_empty_frames_with_the_contract_schemas() -> None:
    load = load_seeds([])

    assert load.frame.schema == SEEDS_SCHEMA
    assert load.rejects.schema == SEED_REJECTS_SCHEMA
    assert (load.frame.height, load.rejects.height, load.rows_read) == (0, 0, 0)


# --- handle cleaning ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "handle"),
    [
        ("  spaced  ", "spaced"),
        ("@at_sign", "at_sign"),
        ("https://x.com/xhttps", "xhttps"),
        ("http://x.com/xhttp", "xhttp"),
        ("https://twitter.com/twhttps", "twhttps"),
        ("twitter.com/twbare", "twbare"),
        ("x.com/xbare", "xbare"),
        ("https://www.twitter.com/twwww", "twwww"),
        ("www.x.com/xwww", "xwww"),
        ("https://mobile.twitter.com/twmobile", "twmobile"),
        ("mobile.twitter.com/mobilebare", "mobilebare"),
        ("HTTPS://X.COM/UpperUrl", "UpperUrl"),
        ("https://x.com/slashed/", "slashed"),
        ("https://twitter.com/queried?lang=en", "queried"),
        ("https://x.com/both/?s=20", "both"),
        ("https://x.com/@atinurl", "atinurl"),
        (r"\_Tim\_Dettmers", "_Tim_Dettmers"),
    ],
)
def test_handle_cleaning(tmp_path: Path, raw: str, handle: str) -> None:
    path = write(tmp_path, "h.csv", f"handle,category\n{raw},c\n")

    load = load_seeds([path])

    assert load.rejects.is_empty()
    assert load.frame["handle"].to_list() == [handle]
    assert load.frame["handle_key"].to_list() == [handle.lower()]


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("sarahdrasnerdesign", "(got 18 characters)"),
        ("google-deepmind", "(contains '-')"),
        ("le minh", "(contains ' ')"),
        ("https://x.com/i/lists/123", "(contains '/')"),
        ("nicolo_laurent-riot", "(contains '-', got 19 characters)"),
    ],
)
def test_invalid_handle_reason(tmp_path: Path, raw: str, detail: str) -> None:
    path = write(tmp_path, "bad.csv", f"handle\n{raw}\n")

    reason = load_seeds([path]).rejects["reason"].to_list()

    assert reason == [
        "not a valid X handle: must be 1-15 characters of A-Z, a-z, 0-9 or _ " + detail
    ]


def test_invalid_rows_are_rejected_with_file_and_line_and_the_rest_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path,
        "mixed.csv",
        HEADER + "good_one,a,s,n\n\ngoogle-deepmind,a,s,n\n,a,s,empty\n@,a,s,bare at\ngood_two\n",
    )

    with caplog.at_level(logging.WARNING, logger="influx_etl.seeds"):
        load = load_seeds([path])

    assert load.frame["handle"].to_list() == ["good_one", "good_two"]
    assert load.rows_read == 5
    assert reject_rows(load) == [
        ("mixed.csv", 4, "google-deepmind"),
        ("mixed.csv", 5, ""),
        ("mixed.csv", 6, "@"),
    ]
    assert load.rejects["reason"][1].startswith("empty handle")
    assert load.rejects["reason"][2].startswith("empty handle")
    warnings = [r.getMessage() for r in caplog.records if r.name == "influx_etl.seeds"]
    assert len(warnings) == 3
    assert warnings[0].startswith(f"{path}:4: not a valid X handle")
    assert warnings[1].startswith(f"{path}:5: empty handle")


def test_bad_unicode_handle_is_rejected_naming_the_character(tmp_path: Path) -> None:
    path = write(tmp_path, "u.csv", "handle\nmarkbåge\n")

    assert load_seeds([path]).rejects["reason"][0].endswith("(contains 'å')")


# --- dedupe -------------------------------------------------------------------------------------


def test_case_insensitive_dedupe_keeps_first_occurrence_and_all_files(tmp_path: Path) -> None:
    first = write(
        tmp_path,
        "m02-final-batch.csv",
        HEADER + "zeta,z,s,z\nGaryMarcus,ai_research,independent,first\n",
    )
    second = write(
        tmp_path,
        "a-later.csv",
        HEADER + "garymarcus,critic,other,second\nZETA,,s,dup\nGARYMARCUS,ai_research,x,third\n",
    )
    third = write(tmp_path, "extra.txt", "@garyMarcus\nnewbie\n")

    load = load_seeds([first, second, third])

    assert load.rows_read == 7
    assert load.frame["handle"].to_list() == ["zeta", "GaryMarcus", "newbie"]
    gary = rows_by_handle(load)["GaryMarcus"]
    assert gary["handle_key"] == "garymarcus"
    assert (gary["category"], gary["source"], gary["note"]) == (
        "ai_research",
        "independent",
        "first",
    )
    assert (gary["seed_file"], gary["line"]) == ("m02-final-batch.csv", 3)
    assert gary["seed_files"] == ["a-later.csv", "extra.txt", "m02-final-batch.csv"]
    assert gary["categories"] == ["ai_research", "critic"]
    assert rows_by_handle(load)["zeta"]["categories"] == ["z"]


def test_same_handle_twice_in_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.csv", HEADER + "alpha,a,s,one\nAlpha,b,s,two\n")

    load = load_seeds([path])

    assert load.frame.select("handle", "line", "seed_files", "categories").rows() == [
        ("alpha", 2, ["dup.csv"], ["a", "b"])
    ]


# --- txt files ----------------------------------------------------------------------------------


def test_txt_file_one_handle_a_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "extra.txt",
        "# hand-picked\n\n@lexfridman\r\nhttps://x.com/levelsio\n  # indented comment\n"
        "mkbhd  # trailing comment\nbad-handle\n",
    )

    load = load_seeds([path])

    assert load.rows_read == 4
    assert load.frame.select("handle", "line").rows() == [
        ("lexfridman", 3),
        ("levelsio", 4),
        ("mkbhd", 6),
    ]
    assert load.frame.select("category", "source", "note").unique().rows() == [(None, None, None)]
    assert load.frame["categories"].to_list() == [[], [], []]
    assert reject_rows(load) == [("extra.txt", 7, "bad-handle")]


# --- the project's own seed list ----------------------------------------------------------------


def test_project_seed_lists_load_cleanly() -> None:
    directory = Path(__file__).resolve().parents[1] / "lists" / "seeds"

    load = load_seeds(seed_paths(directory))

    assert load.rejects.is_empty()
    assert load.frame.height == load.rows_read
    assert {"github", "nytimes", "openai"} <= set(load.frame["handle_key"].to_list())


# --- the real seed files in ../shared -----------------------------------------------------------

HANDLE_COLUMN_NAMES = ("handle", "org_name")


def expected_data_rows(directory: Path) -> list[tuple[str, int, str]]:
    """(file name, physical line, raw handle) of every non-blank data row, read with csv."""
    rows: list[tuple[str, int, str]] = []
    for path in sorted(directory.glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as handle_file:
            reader = csv.reader(handle_file)
            header = [name.strip().lower() for name in next(reader)]
            column = next(header.index(name) for name in HANDLE_COLUMN_NAMES if name in header)
            for record in reader:
                if any(field.strip() for field in record):
                    rows.append((path.name, reader.line_num, record[column]))
    return rows


def simply_cleaned(raw: str) -> str:
    value = raw.strip().replace("\\_", "_")
    value = re.sub(r"(?i)^(https?://)?(www\.|mobile\.)?(x|twitter)\.com/", "", value)
    return value.lstrip("@").lower()


@pytest.mark.shared
def test_every_real_seed_row_is_accounted_for(shared_seeds_dir: Path) -> None:
    paths = seed_paths(shared_seeds_dir)
    expected = expected_data_rows(shared_seeds_dir)
    assert len(paths) == 35

    load = load_seeds(paths)

    assert load.rows_read == len(expected)
    files_by_key = {
        row["handle_key"]: set(row["seed_files"]) for row in load.frame.iter_rows(named=True)
    }
    rejected = {(row[0], row[1]) for row in reject_rows(load)}
    assert len(rejected) == load.rejects.height
    unaccounted = [
        (file, line, raw)
        for file, line, raw in expected
        if ((file, line) in rejected) == (file in files_by_key.get(simply_cleaned(raw), set()))
    ]
    assert unaccounted == []
    assert set(load.frame["handle_key"].to_list()) == {
        simply_cleaned(raw) for file, line, raw in expected if (file, line) not in rejected
    }


@pytest.mark.shared
@pytest.mark.parametrize(
    ("file", "raw"),
    [
        ("github-orgs.csv", "google-deepmind"),
        ("creator-economy-batch.csv", "two_minute_papers"),
        ("m15-gaming-esports-batch.csv", "nicolo Laurent"),
    ],
)
def test_known_bad_real_values_are_rejected_at_their_line(
    shared_seeds_dir: Path, file: str, raw: str
) -> None:
    line = next(
        number
        for number, text in enumerate((shared_seeds_dir / file).read_text().splitlines(), 1)
        if text.startswith(f"{raw},")
    )

    load = load_seeds(seed_paths(shared_seeds_dir))

    assert (file, line, raw) in reject_rows(load)
    assert raw.lower() not in load.frame["handle_key"].to_list()


@pytest.mark.shared
def test_real_overflow_row_keeps_its_whole_note(shared_seeds_dir: Path) -> None:
    load = load_seeds(seed_paths(shared_seeds_dir))

    topol = load.frame.filter(pl.col("handle_key") == "eric_topol").row(0, named=True)

    assert topol["note"] == "Cardiologist, digital health researcher"
    assert topol["seed_file"] == "m21-healthtech-bioinformatics-batch.csv"


@pytest.mark.shared
def test_real_markdown_escaped_handle_is_unescaped(shared_seeds_dir: Path) -> None:
    load = load_seeds(seed_paths(shared_seeds_dir))

    assert "_Tim_Dettmers" in load.frame["handle"].to_list()
