"""The reader pages fit phone and desktop widths, the admin's article list a desktop one."""

import pytest
from django.contrib.auth import get_user_model

from articles.models import Article
from tests.browser.pages import READER_PAGES, SLEEP_ARTICLE
from tests.factories import ReferenceFactory

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


def test_admin_article_list_fits_1280px_with_both_sidebars(open_page, screenshot_dir):
    """At 1280 px the admin's article list shows every column without scrolling sideways."""
    get_user_model().objects.create_superuser("owner", "owner@example.com", "owner-pw")
    page = open_page(width=1280)
    page.goto("/admin/login/?next=/admin/articles/article/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill("owner-pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/articles/article/")
    page.screenshot(path=screenshot_dir / "admin-article-list-1280.png", full_page=True)
    fit = page.evaluate(
        """() => {
            const table = document.querySelector("#result_list");
            return {
                table: table.scrollWidth,
                container: table.parentElement.clientWidth,
                sidebar_open: document.querySelector("#nav-sidebar").offsetWidth > 0,
            };
        }"""
    )
    assert fit["sidebar_open"], fit
    assert fit["table"] <= fit["container"], fit


def test_article_references_fit_the_change_form_at_1280px(open_page, screenshot_dir):
    """At 1280 px an article's references, long ones and a new row, fit inside the form."""
    get_user_model().objects.create_superuser("editor", "editor@example.com", "editor-pw")
    article = Article.objects.get(slug=SLEEP_ARTICLE.strip("/").split("/")[-1])
    ReferenceFactory(
        article=article,
        title="Sleep duration and all-cause mortality: a systematic review and meta-analysis",
        publisher="Sleep (Oxford University Press)",
        url="https://academic.oup.com/sleep/article/33/5/585/2454478?login=false",
        doi="10.1093/sleep/33.5.585",
        pmid="20469800",
    )
    change_page = f"/admin/articles/article/{article.pk}/change/"
    page = open_page(width=1280)
    page.goto(f"/admin/login/?next={change_page}")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("editor-pw")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{change_page}")
    page.get_by_role("button", name="Add another Reference").click()
    page.locator("#references-group").screenshot(path=screenshot_dir / "admin-references-1280.png")
    fit = page.evaluate(
        """() => ({
            table: document.querySelector("#references-group table").scrollWidth,
            form: document.querySelector("#article_form").clientWidth,
            page: document.documentElement.scrollWidth,
        })"""
    )
    assert fit["table"] <= fit["form"] and fit["page"] <= 1280, fit
