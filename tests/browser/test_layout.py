"""The reader pages fit phone and desktop widths; full-page screenshots for review."""

import pytest

from tests.browser.pages import READER_PAGES, SLEEP_ARTICLE

pytestmark = pytest.mark.browser

SCROLL_WIDTH = "document.documentElement.scrollWidth"


@pytest.mark.parametrize("width", [375, 1280])
def test_reader_pages_fit_the_window_width(open_page, screenshot_dir, width):
    """Every reader page loads without sideways scrolling; save a full-page screenshot of each."""
    page = open_page(width=width)
    too_wide = {}
    for name, path in READER_PAGES.items():
        response = page.goto(path)
        assert response.ok, (path, response.status)
        page.screenshot(path=screenshot_dir / f"{name}-{width}.png", full_page=True)
        scroll_width = page.evaluate(SCROLL_WIDTH)
        if scroll_width > width:
            too_wide[name] = scroll_width
    assert not too_wide, f"pages wider than {width} px: {too_wide}"


def test_article_page_has_no_horizontal_scroll_at_320px(open_page, screenshot_dir):
    """An article is readable on a 320 px screen without scrolling sideways."""
    page = open_page(width=320, height=640)
    page.goto(SLEEP_ARTICLE)
    page.screenshot(path=screenshot_dir / "article-320.png", full_page=True)
    assert page.evaluate(SCROLL_WIDTH) <= 320


def test_phone_layout_keeps_space_around_the_main_content(open_page):
    """At 375 px the search box, the content and the footer do not touch each other."""
    page = open_page(width=375)
    page.goto(READER_PAGES["category"])
    gaps = page.evaluate(
        """() => {
            const box = selector => document.querySelector(selector).getBoundingClientRect();
            const main = document.querySelector("main");
            return {
                search_to_nav: box(".site-nav").top - box(".site-search").bottom,
                header_to_content: main.firstElementChild.getBoundingClientRect().top
                    - box(".site-header").bottom,
                content_to_footer: box(".site-footer").top
                    - main.lastElementChild.getBoundingClientRect().bottom,
            };
        }"""
    )
    assert all(gap >= 8 for gap in gaps.values()), gaps
