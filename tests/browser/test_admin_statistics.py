"""The editors' statistics page: chart and top articles for editors, refused to authors."""

import re

import pytest

from tests.browser.admin_server import expect

pytestmark = [pytest.mark.browser, pytest.mark.server]

STATISTICS = "/admin/articles/article/statistics/"


def test_editor_sees_the_statistics_chart_and_top_articles(admin_site, open_context, shot):
    """An editor's statistics page draws the views chart and lists the week's top articles."""
    page = open_context(admin_site.editor)
    response = page.goto(STATISTICS)
    shot(page, "08-editor-statistics")

    assert response.status == 200, admin_site.log_tail()
    expect(page.get_by_role("heading", name="Statistics", level=1)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Views per day"))).to_be_visible()
    top = page.locator("section", has=page.get_by_role("heading", name=re.compile("Top 10")))
    # Every demo article had views this week; the table keeps the ten most read.
    expect(top.get_by_role("link")).to_have_count(10)


def test_author_is_refused_the_statistics_page(admin_site, open_context, shot):
    """An author opening the statistics page gets a 403 page without the chart."""
    page = open_context(admin_site.author)
    response = page.goto(STATISTICS)
    shot(page, "08-author-statistics-refused")

    assert response.status == 403
    expect(page.get_by_text(re.compile("forbidden|permission", re.I)).first).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Views per day"))).to_have_count(0)
