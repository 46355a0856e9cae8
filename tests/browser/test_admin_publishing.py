"""An editor reviews, publishes and schedules articles in the admin: Chromium, gunicorn."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from articles.models import Article, Category
from tests.browser.admin_server import (
    change_url,
    expect,
    field,
    field_errors,
    form_row,
    messages,
    pick_autocomplete,
    read_by_every_worker,
    save,
)
from tests.factories import ArticleFactory

pytestmark = [pytest.mark.browser, pytest.mark.server]

# The scheduled article goes live this long after the editor fills in the date.
SCHEDULE_AHEAD = dt.timedelta(seconds=20)
# How long readers may keep seeing the old pages once it is due.
GO_LIVE_GRACE = 15


def test_editor_publishes_an_article_in_review_once_a_reviewer_is_attached(
    admin_site, open_context, shot
):
    """Publishing a Health article without a reviewer is refused at the field; with one, it is live."""
    article = ArticleFactory(
        title="Understanding Cholesterol Test Results",
        slug="understanding-cholesterol-test-results",
        category=Category.objects.get(slug="health"),
        author=admin_site.author,
        status=Article.Status.IN_REVIEW,
        published_at=None,
    )
    page = open_context(admin_site.editor)

    page.goto("/admin/articles/article/")
    page.locator("#changelist-filter").get_by_role("link", name="In review", exact=True).click()
    shot(page, "03-editor-in-review-list")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list").get_by_role("link", name=article.title).click()

    field(page, "Status").select_option(label="Published")
    response = save(page)
    shot(page, "03-editor-publish-refused")

    assert response.status == 200, admin_site.log_tail()
    expect(field_errors(page, "Medically reviewed by")).to_contain_text("medical reviewer")
    article.refresh_from_db()
    assert article.status == Article.Status.IN_REVIEW

    pick_autocomplete(
        page, "Medically reviewed by", "Okafor", "Dr Samuel Okafor, MD, General Practice"
    )
    reviewed_on = timezone.localdate() - dt.timedelta(days=2)
    field(page, "Last reviewed").fill(reviewed_on.isoformat())
    field(page, "Status").select_option(label="Published")
    response = save(page)
    shot(page, "03-editor-published")

    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("was changed successfully")
    article.refresh_from_db()
    assert article.status == Article.Status.PUBLISHED
    assert (article.reviewed_by.slug, article.last_reviewed) == ("samuel-okafor", reviewed_on)

    reader = open_context()
    response = reader.goto(article.get_absolute_url())
    shot(reader, "03-reader-sees-published-article")
    assert response.status == 200
    expect(reader.locator("h1")).to_have_text(article.title)
    expect(reader.get_by_text("Dr Samuel Okafor").first).to_be_visible()


def reader_sees(found, article) -> dict[str, list[bool]]:
    """Return, per path, whether each answer showed ``article``."""
    url = article.get_absolute_url()
    return {
        path: [
            status == 200 if path == url else article.title in body or url in body
            for status, body in answers
        ]
        for path, answers in found.items()
    }


def test_scheduled_article_stays_hidden_until_due_then_every_worker_shows_it(
    admin_site, open_context, shot
):
    """An article scheduled seconds ahead is absent everywhere, then on every page once due."""
    article = ArticleFactory(
        title="Napping Without Ruining Your Night",
        slug="napping-without-ruining-your-night",
        category=Category.objects.get(slug="sleep"),
        author=admin_site.author,
        status=Article.Status.IN_REVIEW,
        published_at=None,
    )
    reader_paths = [
        article.get_absolute_url(),
        "/",
        "/sleep/",
        "/feed/",
        "/sitemap-articles.xml",
    ]
    page = open_context(admin_site.editor)
    page.goto(change_url(article))

    field(page, "Status").select_option(label="Published")
    due = (timezone.now() + SCHEDULE_AHEAD).replace(microsecond=0)
    date_input, time_input = form_row(page, "Publish date").get_by_role("textbox").all()
    date_input.fill(timezone.localtime(due).strftime("%Y-%m-%d"))
    time_input.fill(timezone.localtime(due).strftime("%H:%M:%S"))
    shot(page, "04-editor-schedules-article")
    response = save(page, "Save")
    shot(page, "04-editor-scheduled")

    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("was changed successfully")
    article.refresh_from_db()
    assert (article.status, article.published_at) == (Article.Status.PUBLISHED, due)

    reader = open_context()
    response = reader.goto(article.get_absolute_url())
    shot(reader, "04-reader-scheduled-article-404")
    assert response.status == 404
    before = reader_sees(read_by_every_worker(admin_site, reader_paths), article)
    assert timezone.now() < due, "the checks before publication ran too late"
    assert before == {path: [False] * 4 for path in reader_paths}

    time.sleep(max((due - timezone.now()).total_seconds(), 0))
    deadline = time.monotonic() + GO_LIVE_GRACE
    while True:
        after = reader_sees(read_by_every_worker(admin_site, reader_paths), article)
        if all(all(seen) for seen in after.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    response = reader.goto(article.get_absolute_url())
    shot(reader, "04-reader-scheduled-article-live")

    assert after == {path: [True] * 4 for path in reader_paths}
    assert response.status == 200
    expect(reader.locator("h1")).to_have_text(article.title)
    reader.goto("/")
    shot(reader, "04-reader-home-after-publication")
    expect(reader.get_by_role("link", name=article.title).first).to_be_visible()
