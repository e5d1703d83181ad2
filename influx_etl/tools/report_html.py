"""The report's HTML building blocks: every value escaped, links only to plain web URLs.

Names and URLs in the tables are written by strangers. The HTML is built as ``markupsafe.Markup``:
every value put into it is escaped by ``markupsafe.escape`` unless it is markup this module made,
so no text from a profile becomes an element or an attribute. A profile URL becomes a link only
when it is plain ``http(s)`` (:func:`profile_link`), with ``rel="noopener noreferrer nofollow"``.
The page's Content-Security-Policy (:data:`CONTENT_SECURITY_POLICY`) allows no script at all,
its one stylesheet (:data:`STYLESHEET`) by hash and images from ``data:`` URIs only.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import polars as pl
from markupsafe import Markup, escape

STYLESHEET: Final = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212121;
 max-width:1000px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2.2rem;
 border-bottom:1px solid #e0e0e0;padding-bottom:.2rem}
.meta{color:#555;margin:.2rem 0 1rem} .status-succeeded{color:#2e7d32} .status-failed{color:#c62828}
nav a{margin-right:1rem} img{max-width:100%;height:auto;display:block;margin:.6rem 0}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{padding:.2rem .7rem;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#555;font-size:.9rem} .scroll{overflow-x:auto}
.synthetic{background:#fff3e0;border:2px solid #ef6c00;color:#bf360c;font-weight:700;
 padding:.5rem .8rem;margin:0 0 1rem}
footer{margin-top:3rem;color:#777;font-size:.85rem}
"""


CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; img-src data:; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLESHEET.encode()).digest()).decode()}'"
)
"""No script from anywhere (the report has none), the one inline stylesheet by its hash,
images only from ``data:`` URIs (the charts)."""

LINK_COLUMNS: Final = frozenset({"url"})
"""Table columns holding a profile's URLs (one or a list): shown by :func:`profile_link`."""

_PLAIN_WEB_URL: Final = re.compile(r"https?://[^\s\x00-\x1f\x7f-\x9f\\<>\"'`]+", re.IGNORECASE)


def profile_link(url: str | None) -> Markup:
    """A link to ``url`` when it is a plain ``http(s)`` URL (no space, quote or control character
    a browser would strip or read otherwise), else the URL as text: ``javascript:`` and other
    schemes never become links."""
    if not url:
        return Markup("")
    if _PLAIN_WEB_URL.fullmatch(url) is None:
        return escape(url)
    return Markup('<a href="{}" rel="noopener noreferrer nofollow">{}</a>').format(url, url)


def _cell(value: Any, link: bool = False) -> Markup:
    if value is None:
        return Markup("<td></td>")
    if isinstance(value, bool):
        return Markup("<td>{}</td>").format("yes" if value else "no")
    if isinstance(value, int):
        return Markup('<td class="num">{:,}</td>').format(value)
    if isinstance(value, float):
        return Markup('<td class="num">{:,.3g}</td>').format(value)
    if link:
        urls = value if isinstance(value, list) else [value]
        return Markup("<td>{}</td>").format(Markup(", ").join(map(profile_link, urls)))
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    # bdi: a bidi override in a name cannot reorder the rest of the row
    return Markup("<td><bdi>{}</bdi></td>").format(str(value))


def html_table(frame: pl.DataFrame, *, percent: Sequence[str] = ()) -> Markup:
    """A plain HTML table of ``frame`` (numbers right-aligned, ``percent`` columns as %, the
    :data:`LINK_COLUMNS` by :func:`profile_link`)."""
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    head = Markup("").join(
        Markup('<th class="num">{}</th>' if c in numeric else "<th>{}</th>").format(c)
        for c in frame.columns
    )
    rows = []
    for row in frame.iter_rows(named=True):
        cells = [
            Markup('<td class="num">{:.1%}</td>').format(v)
            if c in percent and v is not None
            else _cell(v, link=c in LINK_COLUMNS)
            for c, v in row.items()
        ]
        rows.append(Markup("<tr>{}</tr>").format(Markup("").join(cells)))
    return Markup(
        '<div class="scroll"><table><thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>'
    ).format(head, Markup("").join(rows))


def key_values_table(values: Mapping[str, Any]) -> Markup:
    rows = Markup("").join(
        Markup("<tr><th>{}</th>{}</tr>").format(k, _cell(v)) for k, v in values.items()
    )
    return Markup("<table><tbody>{}</tbody></table>").format(rows)


def image(alt: str, src: str) -> Markup:
    """An ``<img>`` of ``src`` (a ``data:`` URI: the policy allows no other image)."""
    return Markup('<img alt="{}" src="{}">').format(alt, src)


def note_paragraph(text: str) -> Markup:
    return Markup('<p class="note">{}</p>').format(text)
