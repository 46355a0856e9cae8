"""Two people save the same article at once: the second is told, and keeps their text."""

import re

import pytest

from articles.models import Article
from tests.browser.admin_server import append_text, change_url, expect, field, messages, save

pytestmark = [pytest.mark.browser, pytest.mark.server]

FIRST = "First editor: drink more water when it is hot or when you exercise."
SECOND = "Second editor: tea and coffee count towards your daily fluid intake."


def test_second_of_two_simultaneous_saves_is_refused_and_keeps_an_editable_form(
    admin_site, open_context, shot
):
    """The first save wins; the second is refused, its text still editable, with a link to the winner."""
    article = Article.objects.get(slug="how-much-water-should-you-drink-each-day")
    first, second = open_context(admin_site.editor), open_context(admin_site.other_editor)
    for page, text in [(first, FIRST), (second, SECOND)]:
        page.goto(change_url(article))
        append_text(field(page, "Body"), text)

    response = save(first)
    shot(first, "05-first-editor-saved")
    assert response.status == 200, admin_site.log_tail()
    expect(messages(first)).to_contain_text("was changed successfully")

    response = save(second)
    shot(second, "05-second-editor-refused")
    assert response.status == 200, admin_site.log_tail()
    expect(second.get_by_text("Someone else saved this article").first).to_be_visible()
    body = field(second, "Body")
    expect(body).to_be_editable()
    assert SECOND in body.input_value()
    expect(field(second, "Title")).to_be_editable()
    expect(second.get_by_role("button", name="Save", exact=True)).to_be_enabled()
    current = second.get_by_role("link", name="open the current version")
    expect(current).to_have_attribute("href", re.compile(rf"{re.escape(change_url(article))}$"))
    article.refresh_from_db()
    assert FIRST in article.body
    assert SECOND not in article.body

    # Saving the refused form again must not overwrite the first editor's text either.
    response = save(second)
    shot(second, "05-second-editor-refused-again")
    assert response.status == 200, admin_site.log_tail()
    expect(second.get_by_text("Someone else saved this article").first).to_be_visible()
    article.refresh_from_db()
    assert FIRST in article.body
    assert SECOND not in article.body

    with second.expect_popup() as popup:
        current.click()
    winner = popup.value
    winner.wait_for_load_state()
    shot(winner, "05-current-version")
    assert FIRST in field(winner, "Body").input_value()
