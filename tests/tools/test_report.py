"""The run report: read from a real dataset made by the pipeline, checked for what it says."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import polars as pl
import pytest
from PIL import Image

from influx_etl.store import Store
from influx_etl.tools.report import SYNTHETIC_BANNER, render_html, write_report
from influx_etl.tools.report_html import CONTENT_SECURITY_POLICY
from influx_etl.tools.report_run import read_run
from tests.hostile_profiles import (
    HOSTILE_TEXTS,
    PLAIN_URLS,
    foreign_markup,
    hostile_users,
    parsed_page,
)
from tests.run_dataset import FIRST_POPULATION, SECOND_POPULATION, BuiltDataset, report_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltDataset:
    return report_dataset(tmp_path_factory)


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts, keyed by the section it sits in."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[list[str]]]] = {}
        self._section = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._section = dict(attrs).get("id") or ""
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr":
            self.tables[self._section][-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._section][-1][-1].append("".join(self._cell).strip())
            self._cell = None


def tables_of(page: str) -> dict[str, list[list[list[str]]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_report_names_its_run_and_shows_that_runs_funnel(built: BuiltDataset) -> None:
    first = built.first
    page = render_html(read_run(built.path, first.run_id), generated_at="2026-01-01T00:00:00Z")
    assert f"<h1>Run {first.run_id}</h1>" in page
    assert built.second.run_id not in page  # another run's report, not this one
    counts_table = tables_of(page)["funnel"][0]
    shown = {row[0]: number(row[2]) for row in counts_table[1:]}
    assert shown == first.funnel


def test_the_usage_section_sums_the_ledger_per_utc_day(built: BuiltDataset) -> None:
    with Store.open_existing(built.path) as store:
        ledger = store.usage()
    assert not ledger.is_empty()
    page = render_html(read_run(built.path), generated_at="2026-01-01T00:00:00Z")
    (table,) = tables_of(page)["usage"]
    assert table[0] == ["day (UTC)", "requests", "users read", "billable users"]
    shown = {row[0]: [number(cell) for cell in row[1:]] for row in table[1:]}
    for (day,), rows in ledger.group_by("day"):
        assert shown.pop(str(day)) == [
            int(rows["requests"].sum()),
            int(rows["users_read"].sum()),
            int(rows["billable"].sum()),
        ]
    assert shown == {}


def test_every_chart_is_embedded_as_a_png_that_decodes(built: BuiltDataset) -> None:
    page = render_html(read_run(built.path), generated_at="2026-01-01T00:00:00Z")
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert [alt for alt, _ in images] == [
        "filter funnel",
        "throughput",
        "rate limit",
        "decision per seed file",
        "dataset changes",
    ]
    for _, encoded in images:
        picture = Image.open(io.BytesIO(base64.b64decode(encoded, validate=True)))
        assert picture.format == "PNG" and picture.width > 300 and picture.height > 100
    assert 'src="http' not in page and "<script" not in page  # stands alone, offline


def test_outcomes_per_seed_file_match_the_stored_outcomes(built: BuiltDataset) -> None:
    run_id = built.first.run_id
    page = render_html(read_run(built.path, run_id), generated_at="2026-01-01T00:00:00Z")
    header, *rows = tables_of(page)["seed-files"][0]
    per_file = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    con = duckdb.connect(str(built.path), read_only=True)
    expected = con.execute(
        "SELECT seed_file, count(*), count(*) FILTER (decision = 'kept'),"
        " count(*) FILTER (outcome = 'not_found'), count(*) FILTER (outcome = 'suspended')"
        " FROM handle_outcomes WHERE run_id = ? GROUP BY seed_file",
        [run_id],
    ).fetchall()
    rejected = dict(
        con.execute(
            "SELECT seed_file, count(*) FROM seed_rejects WHERE run_id = ? GROUP BY ALL", [run_id]
        ).fetchall()
    )
    con.close()
    assert set(per_file) == {"ai.csv", "science.csv"} == {row[0] for row in expected}
    for seed_file, handles, kept, not_found, suspended in expected:
        shown = per_file[seed_file]
        assert number(shown["handles"]) == handles
        assert number(shown["kept"]) == kept
        assert number(shown.get("not found", "0")) == not_found
        assert number(shown.get("suspended", "0")) == suspended
        assert shown["not-found rate"] == f"{not_found / handles:.1%}"
        assert number(shown["rejected seed rows"]) == rejected.get(seed_file, 0)
    assert rejected == {"ai.csv": 1}  # the seed file's one bad row is counted where it was


def test_rate_limit_section_shows_the_waits_and_the_retry(built: BuiltDataset) -> None:
    page = render_html(read_run(built.path, built.first.run_id), generated_at="x")
    summary = {row[0]: row[1] for row in tables_of(page)["rate-limit"][0]}
    assert number(summary["requests per window"]) == 3  # the server's limit
    assert number(summary["batches that needed more than one request"]) == 1  # first one failed
    assert number(summary["waits with no request in flight"]) >= 1  # 6 batches, 3 per window
    assert float(summary["time spent waiting (s)"]) >= 0.5
    assert number(summary["lowest quota left in a window"]) == 0


def test_what_changed_lists_new_updated_and_departed_authors(built: BuiltDataset) -> None:
    page = render_html(read_run(built.path, built.second.run_id), generated_at="x")
    changed, departed = tables_of(page)["changes"]
    rows = {row[0]: dict(zip(changed[0], row, strict=True)) for row in changed[1:]}
    assert rows["Newbie"]["change"] == "new"
    ada_before = FIRST_POPULATION["ada"]["public_metrics"]["followers_count"]
    ada_now = SECOND_POPULATION["ada"]["public_metrics"]["followers_count"]
    assert rows["Ada"]["change"] == "updated"
    assert number(rows["Ada"]["followers before"]) == ada_before
    assert number(rows["Ada"]["change in followers"]) == ada_now - ada_before
    assert [row[:2] for row in departed[1:]] == [["alan", "below_threshold"]]
    # the first run's report still lists Alan as new, though a later run removed him
    first = tables_of(render_html(read_run(built.path, built.first.run_id), generated_at="x"))
    alan = next(row for row in first["changes"][0] if row[0] == "Alan")
    assert alan[-2:] == ["new", "no"]


def test_a_run_without_requests_says_so(built: BuiltDataset) -> None:
    data = read_run(built.path, built.first.run_id)
    page = render_html(replace(data, batches=data.batches.clear()), generated_at="x")
    assert "This run stored no batch." in page
    assert "<h2>Funnel</h2>" in page


def test_write_report_to_a_chosen_file_names_the_run(built: BuiltDataset, tmp_path: Path) -> None:
    written = write_report(built.path, tmp_path / "out" / "r.html", built.first.run_id)
    assert written.path == tmp_path / "out" / "r.html"
    assert written.run_id == built.first.run_id
    assert built.first.run_id in written.path.read_text(encoding="utf-8")
    newest = write_report(built.path, tmp_path / "newest.html")
    assert newest.run_id == built.second.run_id


def test_a_synthetic_datasets_report_says_so_at_the_top(built: BuiltDataset) -> None:
    data = read_run(built.path, built.first.run_id)
    assert data.synthetic  # made against the embedded server
    page = parsed_page(render_html(data, generated_at="x"))
    texts = [t.strip() for t in page.texts if t.strip()]
    assert texts.index(SYNTHETIC_BANNER) < texts.index(f"Run {built.first.run_id}")
    live = render_html(replace(data, synthetic=False), generated_at="x")
    assert "SYNTHETIC" not in live


def test_dropped_accounts_are_listed_with_the_rules_that_dropped_them(built: BuiltDataset) -> None:
    run_id = built.first.run_id
    tables = tables_of(render_html(read_run(built.path, run_id), generated_at="x"))["dropped"]
    counts, (header, *rows) = tables
    con = duckdb.connect(str(built.path), read_only=True)
    stored = con.execute(
        "SELECT handle, decision, brand_matches, risk_flags, risk_matches, outcome_detail"
        " FROM handle_outcomes WHERE run_id = ? AND decision <> 'kept'",
        [run_id],
    ).fetchall()
    con.close()
    shown = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(shown) == {handle for handle, *_ in stored}
    for handle, decision, brands, flags, terms, detail in stored:
        assert shown[handle]["decision"] == decision
        assert shown[handle]["brand rules matched"] == ", ".join(brands or [])
        assert shown[handle]["risk flags"] == ", ".join(flags or [])
        assert shown[handle]["risk terms matched"] == ", ".join(terms or [])
        assert shown[handle]["lookup detail"] == (detail or "")
    assert shown["AcmeNews"]["brand rules matched"] and shown["FollowBackKing"]["risk flags"]
    # sorted by decision (funnel order) then handle, counted per decision in that order
    decisions = [row[0] for row in rows]
    order = ["below_threshold", "brand", "risk", "banned", "not_found", "suspended"]
    assert decisions == sorted(decisions, key=order.index)
    assert [row[0] for row in counts[1:]] == list(dict.fromkeys(decisions))
    assert {row[0]: number(row[1]) for row in counts[1:]} == {
        d: decisions.count(d) for d in decisions
    }


def test_the_authors_tables_are_never_cut(built: BuiltDataset) -> None:
    data = read_run(built.path, built.first.run_id)
    many = pl.DataFrame(
        {
            "handle": [f"author_{i:03}" for i in range(120)],
            "followers": list(range(120)),
            "change": ["new"] * 120,
        }
    )
    page = render_html(replace(data, changed_authors=many), generated_at="x")
    changed = tables_of(page)["changes"][0]
    assert [row[0] for row in changed[1:]] == many["handle"].to_list()
    assert "more." not in page


def _hostile_run(built: BuiltDataset) -> str:
    """The report of a run whose new authors are the hostile profiles (names and URLs shown)."""
    users = hostile_users()
    changed = pl.DataFrame(
        {
            "handle": [u["username"] for u in users],
            "name": [u["name"] for u in users],
            "url": [u["url"] for u in users],
            "followers": [u["public_metrics"]["followers_count"] for u in users],
            "change": ["new"] * len(users),
        }
    )
    data = read_run(built.path, built.first.run_id)
    return render_html(replace(data, changed_authors=changed), generated_at="x")


def test_profile_text_in_the_report_is_text_never_markup(built: BuiltDataset) -> None:
    page = _hostile_run(built)
    assert foreign_markup(page) == []
    shown = "".join(parsed_page(page).texts)
    for text in HOSTILE_TEXTS:  # each name is there, as text
        assert text.strip() in shown
    links = [a for tag, a in parsed_page(page).elements if tag == "a" and a["href"][0] != "#"]
    assert {a["href"] for a in links} == set(PLAIN_URLS)


def test_the_report_allows_no_script_and_only_its_own_stylesheet(built: BuiltDataset) -> None:
    page = parsed_page(_hostile_run(built))
    policies = [
        attrs["content"]
        for tag, attrs in page.elements
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policies == [CONTENT_SECURITY_POLICY]
    rules = dict(rule.strip().split(" ", 1) for rule in CONTENT_SECURITY_POLICY.split(";"))
    assert rules["default-src"] == rules["script-src"] == "'none'"
    assert rules["img-src"] == "data:"
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert rules["style-src"] == f"'sha256-{digest}'"
    # the policy comes before anything it governs
    assert [tag for tag, _ in page.elements][:3] == ["html", "head", "meta"]
    assert page.elements[2][1] == {"charset": "utf-8"}
    assert page.elements[3][1]["http-equiv"] == "Content-Security-Policy"
