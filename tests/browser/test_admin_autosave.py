"""Autosave, recovery and the review conversation in Chromium, against gunicorn's two workers."""

from pathlib import Path

import pytest

from articles.models import Article, Autosave, Category, ReviewNote
from tests.browser.admin_server import (
    append_text,
    change_url,
    expect,
    field,
    messages,
    save,
)
from tests.browser.test_admin_article_form import watched
from tests.factories import ArticleFactory

pytestmark = [pytest.mark.browser, pytest.mark.server]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
EDITED = "A paragraph typed just before the tab was closed, and never saved by hand."
# The status text waits for the next autosave, a few seconds after typing.
SAVED_TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def mail_to_the_log(monkeypatch):
    """Have the server print its emails (into its log) rather than look for a mail server."""
    monkeypatch.setenv("EMAIL_URL", "console://")


def draft_of(author, **fields) -> Article:
    category = Category.objects.get(slug="nutrition")
    return ArticleFactory(category=category, author=author, status="draft", **fields)


def test_closed_tab_autosave_is_restored_and_saved(admin_site, open_context):
    """An author's unsaved edit survives closing the tab: reopened, restored and saved."""
    article = draft_of(admin_site.author, title="Fibre and you")
    page, incidents = watched(open_context, admin_site.author)
    page.goto(change_url(article))
    append_text(field(page, "Body"), EDITED)

    status = page.get_by_role("status", name="Autosave")
    expect(status).to_have_text("Saved a few seconds ago", timeout=SAVED_TIMEOUT_MS)
    assert incidents + page.evaluate("window.__incidents") == []
    page.close()

    article.refresh_from_db()
    assert EDITED not in article.body, "an autosave must never change the article"
    assert Autosave.objects.filter(user=admin_site.author, article=article).count() == 1

    page, incidents = watched(open_context, admin_site.author)
    page.goto(change_url(article))
    banner = page.get_by_role("region", name="Unsaved changes")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Restore unsaved changes from")
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    banner.scroll_into_view_if_needed()
    page.screenshot(path=DOCS_SCREENSHOTS / "autosave-banner.png")
    assert EDITED not in field(page, "Body").input_value()

    banner.get_by_role("button", name="Restore").click()

    expect(banner).to_be_hidden()
    assert EDITED in field(page, "Body").input_value()
    response = save(page)
    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("was changed successfully")
    article.refresh_from_db()
    assert EDITED in article.body
    assert not Autosave.objects.filter(article=article).exists()
    expect(page.get_by_role("region", name="Unsaved changes")).to_be_hidden()
    assert incidents + page.evaluate("window.__incidents") == []


def test_edit_made_offline_is_kept_in_the_browser_and_offered_back(admin_site, open_context):
    """Offline, the form says so and keeps a local copy, which the reopened form offers back."""
    article = draft_of(admin_site.author, title="Vitamin D in winter")
    page, incidents = watched(open_context, admin_site.author)
    page.goto(change_url(article))
    page.context.set_offline(True)
    append_text(field(page, "Body"), EDITED)

    expect(page.get_by_role("status", name="Autosave")).to_have_text(
        "Not saved: offline", timeout=SAVED_TIMEOUT_MS
    )
    assert not Autosave.objects.filter(article=article).exists()
    assert incidents + page.evaluate("window.__incidents") == []
    context = page.context
    page.close()
    context.set_offline(False)

    page = context.new_page()
    page.goto(change_url(article))
    banner = page.get_by_role("region", name="Unsaved changes")
    expect(banner).to_contain_text("Restore unsaved changes from")
    banner.get_by_role("button", name="Restore").click()
    assert EDITED in field(page, "Body").input_value()
    response = save(page)
    assert response.status == 200, admin_site.log_tail()
    article.refresh_from_db()
    assert EDITED in article.body
    stored = page.evaluate("Object.keys(window.localStorage)")
    assert [key for key in stored if key.startswith("healthhub:autosave:")] == []


def test_discard_drops_the_unsaved_copy(admin_site, open_context):
    """Discard hides the banner and deletes the copy on the server and in the browser."""
    article = draft_of(admin_site.author, title="Salt")
    page, _incidents = watched(open_context, admin_site.author)
    page.goto(change_url(article))
    append_text(field(page, "Body"), EDITED)
    expect(page.get_by_role("status", name="Autosave")).to_have_text(
        "Saved a few seconds ago", timeout=SAVED_TIMEOUT_MS
    )
    page.reload()

    banner = page.get_by_role("region", name="Unsaved changes")
    expect(banner).to_be_visible()
    banner.get_by_role("button", name="Discard").click()

    expect(page.get_by_role("status", name="Autosave")).to_have_text(
        "Discarded the unsaved changes"
    )
    assert not Autosave.objects.filter(article=article).exists()
    page.reload()
    expect(page.get_by_role("region", name="Unsaved changes")).to_be_hidden()


def test_editor_sends_back_with_a_note_and_the_author_replies(admin_site, open_context):
    """The editor's note reaches the author's form as a thread; the author's reply joins it."""
    article = draft_of(admin_site.author, title="Iron for runners")
    Article.objects.filter(pk=article.pk).update(status=Article.Status.IN_REVIEW)
    ReviewNote.objects.create(article=article, author=admin_site.author, kind="submitted")

    editor = open_context(admin_site.editor)
    editor.goto(change_url(article))
    field(editor, "Status").select_option("Draft")
    field(editor, "Note to the author").fill("Please cite a source for the 18 mg a day.")
    response = save(editor)
    assert response.status == 200, admin_site.log_tail()
    expect(messages(editor)).to_contain_text("was changed successfully")
    expect(messages(editor, "warning")).to_have_count(0)

    author = open_context(admin_site.author)
    author.goto(change_url(article))
    thread = author.get_by_role("group", name="Review conversation")
    expect(thread).to_contain_text("Sent back")
    expect(thread).to_contain_text("Edgar Editor")
    expect(thread).to_contain_text("Please cite a source for the 18 mg a day.")
    field(author, "Reply to the editor").fill("Added the NHS page on iron as reference 3.")
    response = save(author)
    assert response.status == 200, admin_site.log_tail()

    thread = author.get_by_role("group", name="Review conversation")
    expect(thread.locator("li")).to_have_count(3)
    expect(thread.locator("li").last).to_contain_text("Added the NHS page on iron")
    expect(thread.locator("li").last).to_contain_text("Anna Author")
    thread.scroll_into_view_if_needed()
    author.screenshot(path=DOCS_SCREENSHOTS / "review-thread.png")
    kinds = list(article.review_notes.values_list("kind", flat=True))
    assert kinds == ["submitted", "sent_back", "reply"]
    log = admin_site.log.read_text(errors="replace")
    assert "Subject: Sent back to you: Iron for runners" in log
    assert "Subject: New note on Iron for runners" in log
