"""An editor compares an earlier revision with the article and restores it."""

import re

import pytest

from articles.models import Article
from tests.browser.admin_server import change_url, expect, field, messages, save

pytestmark = [pytest.mark.browser, pytest.mark.server]

EARLIER = "Beans, lentils and oats are cheap and easy ways to add fibre."
LATER = "Wholegrain bread and brown rice are easy swaps that add fibre."


def test_editor_compares_a_revision_with_the_current_text_and_restores_it(
    admin_site, open_context, shot
):
    """The revision page shows the changed line removed and added; restoring brings it back."""
    article = Article.objects.get(slug="why-fibre-deserves-a-place-on-your-plate")
    original = article.body.rstrip()
    page = open_context(admin_site.editor)
    page.goto(change_url(article))
    for text in (EARLIER, LATER):
        field(page, "Body").fill(f"{original}\n\n{text}\n")
        response = save(page)
        assert response.status == 200, admin_site.log_tail()
        expect(messages(page)).to_contain_text("was changed successfully")

    page.get_by_role("link", name="Revisions").click()
    shot(page, "06-revisions-list")
    # Newest first: the current text, then the one before it.
    page.get_by_role("link", name="Compare with current").nth(1).click()
    shot(page, "06-revision-diff")
    text = page.locator("#content").inner_text()
    assert re.search(rf"^\s*[\u2212-]\s*(Removed:\s*)?{re.escape(EARLIER)}\s*$", text, re.M), text
    assert re.search(rf"^\s*\+\s*(Added:\s*)?{re.escape(LATER)}\s*$", text, re.M), text

    response = save(page, "Restore this revision")
    shot(page, "06-revision-restored")
    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("restored")
    expect(page).to_have_url(f"{admin_site.url}{change_url(article)}")
    restored = field(page, "Body").input_value()
    assert EARLIER in restored
    assert LATER not in restored

    reader = open_context()
    reader.goto(article.get_absolute_url())
    shot(reader, "06-reader-sees-restored-text")
    expect(reader.get_by_text(EARLIER)).to_be_visible()
    expect(reader.get_by_text(LATER)).to_have_count(0)
