"""The report's links: only plain web URLs become links, and those give the target nothing."""

from __future__ import annotations

import pytest

from influx_etl.tools.report_html import profile_link
from tests.hostile_profiles import HOSTILE_URLS, PLAIN_URLS, parsed_page


@pytest.mark.parametrize("url", [*HOSTILE_URLS, " https://x.example/", "https://a b", "ftp://x"])
def test_only_plain_web_urls_become_links(url: str) -> None:
    assert "<a" not in profile_link(url)
    assert parsed_page(f"<p>{profile_link(url)}</p>").texts == [url]


@pytest.mark.parametrize("url", PLAIN_URLS)
def test_a_web_url_is_a_link_that_gives_the_target_nothing(url: str) -> None:
    ((tag, attrs),) = parsed_page(str(profile_link(url))).elements
    assert (tag, attrs) == ("a", {"href": url, "rel": "noopener noreferrer nofollow"})
