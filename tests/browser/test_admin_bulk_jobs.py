"""A bulk action over every article in the list, confirmed on its page: Chromium through gunicorn."""

import re

import pytest

from articles.models import Article, ArticleRevision
from tests.browser.admin_server import expect, messages

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_select_all_then_archive_changes_every_article_and_says_how_many(
    admin_site, open_context, shot
):
    """Ticking the list's "select all" box and archiving asks with a count, then archives all."""
    total = Article.objects.count()
    not_archived = Article.objects.exclude(status=Article.Status.ARCHIVED).count()
    page = open_context(admin_site.editor)
    page.goto("/admin/articles/article/")

    page.locator("#action-toggle").check()
    page.get_by_label(re.compile(r"^Action:")).select_option(label="Archive selected articles")
    page.get_by_role("button", name="Go").click()

    expect(page.locator("#content")).to_contain_text(f"This changes {total} articles:")
    expect(page.locator("#action-sample li")).not_to_have_count(0)
    assert page.locator("#action-sample li").count() <= 21
    shot(page, "08-bulk-select-all-confirm")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Yes, go ahead").click()
    assert navigation.value.status == 200, admin_site.log_tail()
    shot(page, "08-bulk-select-all-done")

    expect(messages(page)).to_have_text([f"{not_archived} articles archived."])
    assert set(Article.objects.values_list("status", flat=True)) == {Article.Status.ARCHIVED}
    assert ArticleRevision.objects.filter(status=Article.Status.ARCHIVED).count() == not_archived
